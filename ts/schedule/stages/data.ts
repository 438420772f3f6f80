// The data stage: synthesize the built-in dataset, or point at a MicroLens folder (kept in place).
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { synthesizeDataset } from "../../data/index.js";
import { fileSha256 } from "../../util/fs.js";
import { dataSource } from "../dataset-source.js";
import type { PipelineStage } from "./stage.js";

/** Cheap fingerprint of a MicroLens folder's interaction and title files (name, size, sha256 of small files). */
function microlensFingerprint(dir: string): unknown {
  if (!existsSync(dir)) return { dir, missing: true };
  return readdirSync(dir)
    .filter((f) => /\.(csv|tsv)$/.test(f) && !f.endsWith("_side.csv")) // the side file feeds extraction only (its key)
    .sort()
    .map((f) => {
      const st = statSync(join(dir, f));
      return { f, size: st.size, sha256: st.size < 256 * 1024 * 1024 ? fileSha256(join(dir, f)) : `mtime:${st.mtimeMs}` };
    });
}

export const dataStage: PipelineStage = {
  name: "data",
  after: [],
  version: 2, // 2: the synthetic set has a side file
  keyParts: (c) => {
    const src = dataSource(c);
    return src.kind === "synthetic" ? src : { ...src, files: microlensFingerprint(src.dir) };
  },
  async run(ctx) {
    const src = dataSource(ctx.config);
    if (src.kind === "microlens") {
      // The published data stays where it is; the split stage reads it in place.
      return { kind: "microlens", dir: src.dir };
    }
    const pool = await ctx.resources.pool();
    const out = join(ctx.dir, "dataset");
    const res = await synthesizeDataset({ ...src.options, out, parallel: ctx.resources.size }, pool, (p) =>
      ctx.progress({ done: p.done, total: p.total, unit: p.stage === "videos" ? "videos" : "steps", message: p.stage }),
    );
    return { kind: "synthetic", dir: "dataset", videos: res.videos };
  },
};
