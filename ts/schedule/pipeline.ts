// The LinkedOut pipeline as a stage graph:
//   data → split → extract → train → embed → rank → metrics → report
// Each stage names the config slice it reads (its key) and calls the owning module: ts/data,
// ts/schedule/extract.ts, the worker ops `train`/`embed`/`plot_report`, ts/metrics.
// A stage lists the files it produced under `publish` in its result; the run copies them into
// results/<name>/ (ts/schedule/run.ts).
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { ExperimentConfig } from "../config/index.js";
import { splitDataset, synthesizeDataset, type SynthOptions } from "../data/index.js";
import { computeMetrics, popularityRanks, type MetricsResult } from "../metrics/index.js";
import { fileSha256, writeFileAtomic } from "./fsutil.js";
import type { StageDef } from "./graph.js";
import { metricValues, writeMetricsArrow } from "./results.js";
import type { RunResources } from "./resources.js";

export type PipelineStage = StageDef<ExperimentConfig, RunResources>;

type Section = Record<string, unknown>;
const section = (v: unknown): Section => (v && typeof v === "object" ? (v as Section) : {});
const str = (v: unknown, fallback = ""): string => (typeof v === "string" ? v : fallback);
const num = (v: unknown): number | undefined => (typeof v === "number" ? v : undefined);

/** Where the data comes from: the built-in synthetic generator, or a MicroLens folder. */
export type DataSource =
  | { kind: "synthetic"; options: Omit<SynthOptions, "out"> }
  | { kind: "microlens"; dir: string; variant: string; pairs: string; onBadRow: string; onMissingVideo: string };

/** The dataset section, read in one place (schemas/config/dataset.schema.json). */
export function dataSource(config: ExperimentConfig): DataSource {
  const d = section(config.dataset);
  if (str(d.source, "synthetic") === "synthetic") {
    const s = section(d.synthetic);
    const options: Omit<SynthOptions, "out"> = {};
    if (typeof s.preset === "string") options.preset = s.preset as SynthOptions["preset"];
    for (const [from, to] of [
      ["users", "users"],
      ["items", "items"],
      ["topics", "topics"],
      ["seed", "seed"],
      ["cold_share", "coldShare"],
      ["width", "width"],
      ["height", "height"],
      ["fps", "fps"],
    ] as const) {
      const v = num(s[from]);
      if (v !== undefined) (options as Record<string, unknown>)[to] = v;
    }
    if (typeof s.codec === "string") options.codec = s.codec as SynthOptions["codec"];
    return { kind: "synthetic", options };
  }
  return {
    kind: "microlens",
    dir: str(d.dir),
    variant: str(d.variant, "auto"),
    pairs: str(d.pairs, "auto"),
    onBadRow: str(d.on_bad_row, "error"),
    onMissingVideo: str(d.on_missing_video, "error"),
  };
}

/** Ranker name from the recommender section; `pop` needs no training and no content. */
export function rankerName(config: ExperimentConfig): string {
  return str(section(section(config.recommender).ranker).name, "sasrec");
}

/** Does this config read video content (so needs the extraction)? */
export function usesContent(config: ExperimentConfig): boolean {
  if (rankerName(config) === "pop") return false;
  return section(config.recommender).item_content !== false;
}

/** Cheap fingerprint of a MicroLens folder's interaction and title files (name, size, sha256 of small files). */
function microlensFingerprint(dir: string): unknown {
  if (!existsSync(dir)) return { dir, missing: true };
  return readdirSync(dir)
    .filter((f) => /\.(csv|tsv)$/.test(f))
    .sort()
    .map((f) => {
      const st = statSync(join(dir, f));
      return { f, size: st.size, sha256: st.size < 256 * 1024 * 1024 ? fileSha256(join(dir, f)) : `mtime:${st.mtimeMs}` };
    });
}

const dataStage: PipelineStage = {
  name: "data",
  after: [],
  version: 1,
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

/** Absolute folder of the dataset a data stage output describes. */
function datasetDir(out: { dir: string; meta: Record<string, unknown> }): string {
  return out.meta.kind === "microlens" ? String(out.meta.dir) : join(out.dir, String(out.meta.dir));
}

const splitStage: PipelineStage = {
  name: "split",
  after: ["data"],
  version: 1,
  keyParts: (c) => {
    const src = dataSource(c);
    return src.kind === "microlens" ? { variant: src.variant, pairs: src.pairs, onBadRow: src.onBadRow, onMissingVideo: src.onMissingVideo } : {};
  },
  async run(ctx) {
    const src = dataSource(ctx.config);
    const dir = datasetDir(ctx.inputs.data!);
    const opts =
      src.kind === "microlens"
        ? {
            variant: src.variant,
            pairs: src.pairs as "csv" | "tsv" | "auto",
            onBadRow: src.onBadRow as "error" | "skip",
            onMissingVideo: src.onMissingVideo as "error" | "skip" | "keep",
          }
        : {};
    const { split } = splitDataset(dir, ctx.dir, opts);
    ctx.log(`${split.counts.usersKept} users, ${split.counts.itemsKept} items, ${split.counts.trainSamples} training samples`);
    return { counts: split.counts };
  },
};

/**
 * Ranks for rankers that need no training (popularity). A trained model's ranks come from the
 * train stage, which ranks valid and test users with its best weights.
 */
const rankStage: PipelineStage = {
  name: "rank",
  after: ["split"],
  version: 1,
  skip: (c) => (rankerName(c) === "pop" ? undefined : "the train stage ranks with the trained model"),
  keyParts: (c) => ({ ranker: rankerName(c) }),
  async run(ctx) {
    const { rows } = popularityRanks(ctx.inputs.split!.dir, { out: join(ctx.dir, "ranks.arrow") });
    return { users: rows.length, publish: ["ranks.arrow"] };
  },
};

/** eval section → computeMetrics options. */
function evalOptions(config: ExperimentConfig): { ks?: number[]; coldMax?: number; longTailShare?: number } {
  const e = section(config.eval);
  const o: { ks?: number[]; coldMax?: number; longTailShare?: number } = {};
  if (Array.isArray(e.ks)) o.ks = e.ks as number[];
  const cold = num(e.cold_max);
  if (cold !== undefined) o.coldMax = cold;
  const share = num(e.long_tail_share);
  if (share !== undefined) o.longTailShare = share;
  return o;
}

/** Where this run's ranks.arrow is: the rank stage (pop) or the train stage (which ranks with its best weights). */
function ranksPath(inputs: Readonly<Record<string, { dir: string }>>): string {
  for (const s of ["rank", "train"]) {
    const dir = inputs[s]?.dir;
    if (dir && existsSync(join(dir, "ranks.arrow"))) return join(dir, "ranks.arrow");
  }
  throw new Error("no ranks.arrow from the rank or train stage");
}

const metricsStage: PipelineStage = {
  name: "metrics",
  after: ["split", "rank"],
  version: 1,
  keyParts: (c) => evalOptions(c),
  async run(ctx) {
    const m: MetricsResult = computeMetrics(ranksPath(ctx.inputs), join(ctx.inputs.split!.dir, "items.arrow"), evalOptions(ctx.config));
    writeMetricsArrow(join(ctx.dir, "metrics.arrow"), metricValues(m), ctx.config.name);
    writeFileAtomic(join(ctx.dir, "metrics.json"), `${JSON.stringify(m, null, 2)}\n`);
    return { publish: ["metrics.arrow", "metrics.json"] };
  },
};

export function pipelineStages(): PipelineStage[] {
  return [dataStage, splitStage, rankStage, metricsStage];
}
