// The embed stage: the EmbeddingStore `lo-exp serve` reads.
import { join } from "node:path";
import { isPopularity } from "../dataset-source.js";
import { storeDir, type PipelineStage } from "./stage.js";

/**
 * The EmbeddingStore for serving (worker op `embed`): every catalogue item's fused vector z_v and its
 * gate weights, from the trained weights. `lo-exp serve` reads <dir>/embeddings.
 */
export const embedStage: PipelineStage = {
  name: "embed",
  after: ["split", "extract", "train"],
  version: 1,
  skip: (c) => (isPopularity(c) ? "popularity ranking has no item vectors" : undefined),
  keyParts: () => ({}),
  async run(ctx) {
    const pool = await ctx.resources.pool();
    const r = await pool.call(
      "embed",
      {
        run_dir: ctx.inputs.train!.dir,
        split_dir: ctx.inputs.split!.dir,
        store: storeDir(ctx.inputs),
        out: join(ctx.dir, "embeddings"),
        threads: ctx.resources.soloThreads,
      },
      { log: ctx.log, onProgress: (p) => ctx.progress({ done: p.done, total: p.total, unit: p.unit, message: p.message }) },
    );
    return { store: "embeddings", result: r.result };
  },
};
