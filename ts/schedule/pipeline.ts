// The LinkedOut pipeline as a stage graph:
//   data → split → extract → train → embed → rank → metrics → report
// Each stage names the config slice it reads (its key) and calls the owning module: ts/data,
// ts/schedule/extract.ts, the worker ops `train`/`embed`/`plot_report`, ts/metrics.
// A stage lists the files it produced under `publish` in its result; the run copies them into
// results/<name>/ (ts/schedule/run.ts).
import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import type { ExperimentConfig } from "../config/index.js";
import { readArrowFile, readSplit, splitDataset, synthesizeDataset, writeArrowFile, type SynthOptions } from "../data/index.js";
import { computeMetrics, popularityRanks, type MetricsResult } from "../metrics/index.js";
import { fileSha256, writeFileAtomic } from "../util/fs.js";
import {
  ensureBackbonePath,
  extractionKeyParts,
  runExtraction,
  type BackboneConfig,
  type ExtractItem,
  type ExtractSettings,
} from "./extract.js";
import type { StageDef, StageOutput } from "./graph.js";
import { metricValues, writeMetricsArrow } from "./results.js";
import type { RunResources } from "./resources.js";
import { trainWithTorchrun } from "./torchrun.js";

export type PipelineStage = StageDef<ExperimentConfig, RunResources>;

/** Where the data comes from: the built-in synthetic generator, or a MicroLens folder. */
export type DataSource =
  | { kind: "synthetic"; options: Omit<SynthOptions, "out"> }
  | {
      kind: "microlens";
      dir: string;
      variant: string;
      pairs: "auto" | "csv" | "tsv";
      onBadRow: "error" | "skip";
      onMissingVideo: "error" | "skip" | "keep";
    };

/** The dataset section, read in one place (schemas/config/dataset.schema.json). */
export function dataSource(config: ExperimentConfig): DataSource {
  const d = config.dataset;
  if (d.source === "synthetic") {
    const s = d.synthetic;
    return {
      kind: "synthetic",
      options: {
        preset: s.preset,
        users: s.users,
        items: s.items,
        topics: s.topics,
        seed: s.seed,
        coldShare: s.cold_share,
        width: s.width,
        height: s.height,
        fps: s.fps,
        codec: s.codec,
      },
    };
  }
  return { kind: "microlens", dir: d.dir, variant: d.variant, pairs: d.pairs, onBadRow: d.on_bad_row, onMissingVideo: d.on_missing_video };
}

/** The Pop baseline: no training, no content. */
export function isPopularity(config: ExperimentConfig): boolean {
  return config.ranking === "popularity";
}

/** Does this config read video content (so needs the extraction)? */
export function usesContent(config: ExperimentConfig): boolean {
  if (isPopularity(config)) return false;
  return config.recommender.item_content !== false;
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
    const opts = src.kind === "microlens" ? { variant: src.variant, pairs: src.pairs, onBadRow: src.onBadRow, onMissingVideo: src.onMissingVideo } : {};
    const { split } = splitDataset(dir, ctx.dir, opts);
    ctx.log(`${split.counts.usersKept} users, ${split.counts.itemsKept} items, ${split.counts.trainSamples} training samples`);
    return { counts: split.counts };
  },
};

/**
 * Ranks for rankers that need no training (popularity). A trained model's ranks come from the
 * train stage, which ranks valid and test users with its best weights.
 */
const popRankStage: PipelineStage = {
  name: "pop-rank",
  after: ["split"],
  version: 1,
  skip: (c) => (isPopularity(c) ? undefined : "only for ranking: popularity"),
  keyParts: () => ({ ranking: "popularity" }),
  async run(ctx) {
    const { rows } = popularityRanks(ctx.inputs.split!.dir, { out: join(ctx.dir, "ranks.arrow") });
    return { users: rows.length, publish: ["ranks.arrow"] };
  },
};

/** eval section → computeMetrics options. */
function evalOptions(config: ExperimentConfig): { ks: number[]; coldMax: number; longTailShare: number } {
  return { ks: config.eval.ks, coldMax: config.eval.cold_max, longTailShare: config.eval.long_tail_share };
}

/** Where this run's ranks.arrow is: the rank stage (trained model) or the pop-rank stage. */
function ranksPath(inputs: Readonly<Record<string, { dir: string }>>): string {
  for (const s of ["rank", "pop-rank"]) {
    const dir = inputs[s]?.dir;
    if (dir && existsSync(join(dir, "ranks.arrow"))) return join(dir, "ranks.arrow");
  }
  throw new Error("no ranks.arrow from the rank or train stage");
}

/**
 * Video LLM extraction into a TokenStore (ts/schedule/extract.ts, Python op `extract`), item shards
 * over the worker pool. Its key holds only what the stored tokens depend on (backbone, prompts,
 * frames, taps, ...) and the split upstream, so every recommender/training variant shares it.
 */
const extractStage: PipelineStage = {
  name: "extract",
  after: ["split"],
  version: 1,
  skip: (c) => (usesContent(c) ? undefined : "the config uses no video content"),
  keyParts: (c) => extractionKeyParts("", c.model as unknown as BackboneConfig, c.extract as unknown as ExtractSettings),
  async run(ctx) {
    const model = ctx.config.model as unknown as BackboneConfig;
    const settings = ctx.config.extract as unknown as ExtractSettings;
    const pool = await ctx.resources.pool();
    const modelPath = await ensureBackbonePath(model, join(ctx.config.cache_dir, "models"), pool);
    const items: ExtractItem[] = readSplit(ctx.inputs.split!.dir).items.map((it) => ({ item: it.item, video: it.video, title: it.title }));
    const report = await runExtraction(
      { model, extract: settings },
      {
        storeDir: join(ctx.dir, "store"),
        items,
        dataset: ctx.inputs.split!.key,
        modelPath,
        workers: pool,
        key: ctx.key,
        onProgress: (p) => ctx.progress({ done: p.done, total: p.total, unit: "videos", message: p.message }),
        log: ctx.log,
        signal: ctx.signal,
      },
    );
    if (report.failed.length) ctx.log(`${report.failed.length} item(s) failed: ${report.failed.slice(0, 3).map((f) => `${f.item} (${f.reason})`).join(", ")}`);
    return {
      store: "store",
      items: report.items,
      extracted: report.extracted,
      failed: report.failed.length,
      retries: report.retries.length,
      items_per_second: report.itemsPerSecond,
    };
  },
};

/** The TokenStore folder an extract stage output holds (null for ID-only configs). */
function storeDir(inputs: Readonly<Record<string, StageOutput>>): string | null {
  const ex = inputs.extract;
  return ex ? join(ex.dir, String(ex.meta.store ?? "store")) : null;
}

const trainStage: PipelineStage = {
  name: "train",
  after: ["split", "extract"],
  version: 1,
  skip: (c) => (isPopularity(c) ? "popularity ranking needs no training" : undefined),
  keyParts: (c) => ({ recommender: c.recommender, train: c.train }),
  async run(ctx) {
    const spec = {
      run_dir: ctx.dir,
      split_dir: ctx.inputs.split!.dir,
      store: storeDir(ctx.inputs),
      recommender: ctx.config.recommender,
      train: ctx.config.train,
      resume: true, // a rerun after an interruption continues from checkpoint.pt in this folder
      write_ranks: false, // the rank stage ranks user shards over all workers
      device: "auto",
    };
    const devices = ctx.config.workers.devices;
    let summary: Record<string, unknown>;
    if (devices.length > 1) {
      // the workers may hold the backbone on these GPUs from extraction: free them for DDP (restarted on demand)
      await ctx.resources.close();
      summary = await trainWithTorchrun({ dir: ctx.dir, spec, devices, threads: ctx.config.workers.threads, progress: ctx.progress, signal: ctx.signal });
    } else {
      const pool = await ctx.resources.pool();
      const r = await pool.call("train", { ...spec, threads: ctx.resources.soloThreads }, {
        onProgress: (p) => ctx.progress({ done: p.done, total: p.total, unit: p.unit, message: p.message }),
      });
      summary = r.result;
    }
    const publish = ["train_log.arrow", "epochs.arrow", "gates.arrow"].filter((f) => existsSync(join(ctx.dir, f)));
    ctx.log(`best valid HR@10 ${Number(summary.best_valid_hr10).toFixed(4)} at epoch ${String(summary.best_epoch)}`);
    return { summary, publish };
  },
};

/**
 * The EmbeddingStore for serving (worker op `embed`): every catalogue item's fused vector z_v and its
 * gate weights, from the trained weights. `lo-exp serve` reads <dir>/embeddings.
 */
const embedStage: PipelineStage = {
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
        token_store: storeDir(ctx.inputs),
        out: join(ctx.dir, "embeddings"),
        threads: ctx.resources.soloThreads,
      },
      { onProgress: (p) => ctx.progress({ done: p.done, total: p.total, unit: p.unit, message: p.message }) },
    );
    return { store: "embeddings", result: r.result };
  },
};

/** Rank valid and test users in shards over the worker pool with the trained weights; merge into ranks.arrow. */
const modelRankStage: PipelineStage = {
  name: "rank",
  after: ["split", "extract", "train"],
  version: 2,
  skip: (c) => (isPopularity(c) ? "popularity ranking happens in the pop-rank stage" : undefined),
  keyParts: () => ({ ranking: "model" }),
  async run(ctx) {
    const pool = await ctx.resources.pool();
    const shards = Math.max(1, pool.size);
    const jobs: { split: "valid" | "test"; index: number; out: string }[] = [];
    for (const split of ["valid", "test"] as const)
      for (let index = 0; index < shards; index++) jobs.push({ split, index, out: join(ctx.dir, `ranks-${split}-${index}.arrow`) });
    let done = jobs.filter((j) => existsSync(j.out)).length; // shards finished before an interruption
    ctx.progress({ done, total: jobs.length, unit: "shards" });
    await Promise.all(
      jobs
        .filter((j) => !existsSync(j.out))
        .map(async (j) => {
          await pool.call("rank", {
            run_dir: ctx.inputs.train!.dir,
            split: j.split,
            shard: { index: j.index, count: shards },
            out: j.out,
            split_dir: ctx.inputs.split!.dir,
            store: storeDir(ctx.inputs),
          });
          done++;
          ctx.progress({ done, total: jobs.length, unit: "shards" });
        }),
    );
    // concatenate the shards' Arrow tables as they are (topk lists included), valid then test
    const [first, ...rest] = jobs.map((j) => readArrowFile(j.out));
    const merged = first!.concat(...rest);
    writeArrowFile(join(ctx.dir, "ranks.arrow"), merged);
    for (const j of jobs) rmSync(j.out, { force: true });
    return { users: merged.numRows, shards, publish: ["ranks.arrow"] };
  },
};

const metricsStage: PipelineStage = {
  name: "metrics",
  after: ["split", "pop-rank", "rank"],
  version: 1,
  keyParts: (c) => evalOptions(c),
  async run(ctx) {
    const m: MetricsResult = computeMetrics(ranksPath(ctx.inputs), join(ctx.inputs.split!.dir, "items.arrow"), evalOptions(ctx.config));
    writeMetricsArrow(join(ctx.dir, "metrics.arrow"), metricValues(m), ctx.config.name);
    writeFileAtomic(join(ctx.dir, "metrics.json"), `${JSON.stringify(m, null, 2)}\n`);
    return { publish: ["metrics.arrow", "metrics.json"] };
  },
};

const reportStage: PipelineStage = {
  name: "report",
  after: ["train", "metrics"],
  version: 2,
  skip: (c) => (isPopularity(c) ? "nothing trained to plot" : undefined),
  keyParts: (c) => ({ title: c.name }),
  async run(ctx) {
    const train = ctx.inputs.train!.dir;
    const gates = join(train, "gates.arrow");
    const log = join(train, "train_log.arrow");
    const epochs = join(train, "epochs.arrow");
    const pool = await ctx.resources.pool();
    const r = await pool.call("plot_report", {
      out_dir: ctx.dir,
      gates_path: existsSync(gates) ? gates : "",
      train_log_path: existsSync(log) ? log : "",
      epochs_path: existsSync(epochs) ? epochs : "",
      title: ctx.config.name,
    });
    const written = (r.result.written as string[] | undefined) ?? [];
    return { publish: written, contribution_percent: r.result.contribution_percent ?? null };
  },
};

export function pipelineStages(): PipelineStage[] {
  return [dataStage, splitStage, extractStage, trainStage, embedStage, popRankStage, modelRankStage, metricsStage, reportStage];
}
