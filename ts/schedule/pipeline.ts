// The LinkedOut pipeline as a stage graph:
//   data → split → extract → train → embed → rank → metrics → report
// Each stage names the config slice it reads (its key) and calls the owning module: ts/data,
// ts/schedule/extract.ts, the worker ops `train`/`embed`/`plot_report`, ts/metrics.
// A stage lists the files it produced under `publish` in its result; the run copies them into
// results/<name>/ (ts/schedule/run.ts).
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import type { ExperimentConfig } from "../config/index.js";
import {
  findMicroLensFiles,
  readArrowFile,
  readSplit,
  sideChannelDigest,
  sideChannelValues,
  splitDataset,
  synthesizeDataset,
  SYNTH_SIDE_COLUMNS,
  writeArrowFile,
  type LoadOptions,
  type SynthOptions,
} from "../data/index.js";
import { DataError } from "../data/errors.js";
import { utf8Vector } from "../data/arrow-columns.js";
import { Table, type Utf8, type Vector } from "apache-arrow";
import { computeMetrics, popularityRanks, type MetricsResult } from "../metrics/index.js";
import { fileSha256, writeFileAtomic } from "../util/fs.js";
import { ensureBackbonePath, extractionKeyParts, runExtraction, type ExtractionProgress, type ExtractItem } from "./extract.js";
import { runRayExtraction } from "./extract-ray.js";
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
      onDuplicate: "keep" | "error" | "skip";
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
  return {
    kind: "microlens",
    dir: d.dir,
    variant: d.variant,
    pairs: d.pairs,
    onBadRow: d.on_bad_row,
    onDuplicate: d.on_duplicate,
    onMissingVideo: d.on_missing_video,
  };
}

/** The Pop baseline: no training, no content. */
export function isPopularity(config: ExperimentConfig): boolean {
  return config.ranking === "popularity";
}

/** Does this config read video content (so needs the extraction)? */
export function usesContent(config: ExperimentConfig): boolean {
  if (isPopularity(config)) return false;
  return config.recommender.item_content;
}

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

const dataStage: PipelineStage = {
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

/** Absolute folder of the dataset a data stage output describes. */
function datasetDir(out: { dir: string; meta: Record<string, unknown> }): string {
  return out.meta.kind === "microlens" ? String(out.meta.dir) : join(out.dir, String(out.meta.dir));
}

/** The loader options a split uses; runs without video content need no videos (docs/data.md). */
/** How the split stage loads a MicroLens folder (also what the checks before a run load). */
export function splitOptions(config: ExperimentConfig): LoadOptions {
  const src = dataSource(config);
  if (src.kind !== "microlens") return {}; // the synthetic set always has its videos
  const needVideos = usesContent(config);
  const { variant, pairs, onBadRow, onDuplicate, onMissingVideo } = src;
  return { variant, pairs, onBadRow, onDuplicate, onMissingVideo, ...(needVideos ? {} : { needVideos }) };
}

const splitStage: PipelineStage = {
  name: "split",
  after: ["data"],
  version: 1,
  keyParts: (c) => splitOptions(c),
  async run(ctx) {
    const dir = datasetDir(ctx.inputs.data!);
    const opts = splitOptions(ctx.config);
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
  skip: (c) => (isPopularity(c) ? undefined : "this stage ranks by popularity (the Pop baseline, `ranking: popularity`); this config ranks with its trained model"),
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

/** extract.side_channels (schemas/config/extract.schema.json). */
function sideChannels(config: ExperimentConfig): readonly string[] {
  return config.extract.side_channels;
}

/**
 * Side-channel values of the configured channels, item → channel → value (ts/data/side.ts), for the
 * dataset a split was made from. Errors name `extract.side_channels` for a channel the data lacks.
 */
function sideValues(config: ExperimentConfig, datasetDir: string, variant: string): Map<string, Map<string, string>> {
  return sideChannelValues(datasetDir, variant, sideChannels(config));
}

/**
 * What the side file adds to the extraction key: a MicroLens folder's configured side-channel values
 * (so the key follows the prompt text, not unrelated columns). The synthetic set's side file follows
 * from its options, already in the key upstream; its channel names are checked here.
 * Called before any stage runs (checkBeforeRun) so an unknown channel stops a run before work starts.
 */
function sideKey(config: ExperimentConfig): string | null {
  if (!usesContent(config)) return null;
  const src = dataSource(config);
  if (src.kind === "microlens") {
    const { variant } = findMicroLensFiles(src.dir, { variant: src.variant, pairs: src.pairs });
    return sideChannelDigest(sideValues(config, src.dir, variant));
  }
  const unknown = sideChannels(config).find((c) => c !== "title" && !SYNTH_SIDE_COLUMNS.includes(c));
  if (unknown !== undefined) {
    throw new DataError(`extract.side_channels: '${unknown}' is not a column of the synthetic dataset's side file (columns: ${SYNTH_SIDE_COLUMNS.join(", ")})`);
  }
  return null;
}

/** Checks a run makes before any stage starts: side channels the data lacks. */
export function checkBeforeRun(config: ExperimentConfig): void {
  sideKey(config);
}

/** Extract items as an Arrow table (item, video, title, one utf8 column per side channel; "" = absent). */
function extractItemsTable(items: readonly ExtractItem[], channels: readonly string[]): Table {
  const columns: Record<string, Vector<Utf8>> = {
    item: utf8Vector(items.map((it) => it.item)),
    video: utf8Vector(items.map((it) => it.video)),
    title: utf8Vector(items.map((it) => String(it.title ?? ""))),
  };
  for (const ch of channels) if (ch !== "title") columns[ch] = utf8Vector(items.map((it) => (it[ch] == null ? "" : String(it[ch]))));
  return new Table(columns);
}

/** The catalogue as the extractor sees it: video path, title and the configured side channels. */
export function extractItems(config: ExperimentConfig, splitDir: string): ExtractItem[] {
  const manifest = JSON.parse(readFileSync(join(splitDir, "split.json"), "utf8")) as { source?: { dir?: string; variant?: string } };
  const source = manifest.source ?? {};
  const values = source.dir && source.variant ? sideValues(config, source.dir, source.variant) : new Map<string, Map<string, string>>();
  return readSplit(splitDir).items.map((it) => ({ item: it.item, video: it.video, title: it.title, ...Object.fromEntries(values.get(it.item) ?? []) }));
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
  keyParts: (c) => ({ ...extractionKeyParts("", c.model, c.extract), side: sideKey(c) }),
  async run(ctx) {
    const model = ctx.config.model;
    const settings = ctx.config.extract;
    // the pool starts only when something needs it (the Ray engine may need none)
    const modelPath = await ensureBackbonePath(model, join(ctx.config.cache_dir, "models"), () => ctx.resources.pool());
    const items = extractItems(ctx.config, ctx.inputs.split!.dir);
    const common = {
      storeDir: join(ctx.dir, "store"),
      dataset: ctx.inputs.split!.key,
      modelPath,
      key: ctx.key,
      onProgress: (p: ExtractionProgress) => ctx.progress({ done: p.done, total: p.total, unit: "videos", message: p.message }),
      log: ctx.log,
      signal: ctx.signal,
    };
    let report: Awaited<ReturnType<typeof runExtraction>>;
    if (settings.engine === "ray") {
      // the work unit reads the catalogue from a file: the split's items with their side-channel values
      const itemsPath = join(ctx.dir, "items.arrow");
      writeArrowFile(itemsPath, extractItemsTable(items, settings.side_channels));
      report = await runRayExtraction({ model, extract: settings }, { ...common, itemsPath, threads: ctx.config.workers.threads });
    } else {
      const pool = await ctx.resources.pool();
      report = await runExtraction(
        { model, extract: settings },
        { ...common, items, workers: pool, replaceWorker: () => pool.replaceDead() }, // a shard whose worker died goes on on a new one
      );
    }
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
      // one process on this host (its checkpoints are here); if its worker dies, a new worker
      // continues from checkpoint.pt (resume: true), bitwise as if uninterrupted on CPU (train/loop.py)
      const r = await pool.call("train", { ...spec, threads: ctx.resources.soloThreads }, {
        where: "local",
        attempts: pool.maxAttempts,
        retryNote: "resuming from its last checkpoint",
        log: ctx.log,
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
        // serve.index ann (or auto above serve.ann.exact_up_to items): the ANN index goes beside the store
        index: ctx.config.serve.index,
        ann: ctx.config.serve.ann,
      },
      { log: ctx.log, onProgress: (p) => ctx.progress({ done: p.done, total: p.total, unit: p.unit, message: p.message }) },
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
          await pool.call(
            "rank",
            {
              run_dir: ctx.inputs.train!.dir,
              split: j.split,
              shard: { index: j.index, count: shards },
              out: j.out,
              split_dir: ctx.inputs.split!.dir,
              store: storeDir(ctx.inputs),
            },
            { log: ctx.log }, // a shard whose worker died is retried on another (IDEMPOTENT_OPS)
          );
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
    const r = await pool.call(
      "plot_report",
      {
        out_dir: ctx.dir,
        gates_path: existsSync(gates) ? gates : "",
        train_log_path: existsSync(log) ? log : "",
        epochs_path: existsSync(epochs) ? epochs : "",
        title: ctx.config.name,
      },
      { log: ctx.log },
    );
    const written = (r.result.written as string[] | undefined) ?? [];
    return { publish: written, contribution_percent: r.result.contribution_percent ?? null };
  },
};

export function pipelineStages(): PipelineStage[] {
  return [dataStage, splitStage, extractStage, trainStage, embedStage, popRankStage, modelRankStage, metricsStage, reportStage];
}
