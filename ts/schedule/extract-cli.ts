// Library functions behind `lo-exp model tiny`, `lo-exp extract CONFIG` and `lo-exp bench extract`.
// The CLI verbs (ts/cli/commands/{model,extract}.ts, the bench entry) are thin shells over these.
import { join, resolve } from "node:path";
import { loadConfig } from "../config/index.js";
import { readSplit } from "../data/index.js";
import { startWorker, type WorkerClient } from "../worker/index.js";
import { runBenchOp, type BenchReport } from "../worker/bench-report.js";
import type { ProgressInfo } from "../worker/protocol.js";
import { ensureBackbonePath, runExtraction, type BackboneConfig, type ExtractItem, type ExtractSettings } from "./extract.js";
import { runGraph, type StageOutput } from "./graph.js";
import { pipelineStages } from "./pipeline.js";
import { defaultLogMode, Reporter } from "./progress.js";
import { RunResources } from "./resources.js";

export interface TinyModelShape {
  hidden: number;
  layers: number;
  image_size: number;
  seed: number;
}

export interface TinyModelSummary {
  path: string;
  parameters: number;
  layers: number;
  hidden: number;
  image_size: number;
  patches_per_frame: number;
  tokens_per_frame: number;
  vocab: number;
  seed: number;
}

/** Build the tiny random LLaVA-OneVision into `out` (save_pretrained) on a fresh CPU worker. */
export async function buildTinyModel(out: string, shape: TinyModelShape, worker?: WorkerClient): Promise<TinyModelSummary> {
  const w = worker ?? (await startWorker({ device: "cpu", threads: 1 }));
  try {
    const r = await w.call<TinyModelSummary>("build_tiny_model", { out: resolve(out), ...shape });
    return r.result;
  } finally {
    if (!worker) await w.close();
  }
}

export interface ExtractConfigOptions {
  sets?: readonly string[];
  /** recompute the extraction even when cached */
  force?: boolean;
  /** re-attempt the items recorded as failed, in place, in the finished store */
  retryFailed?: boolean;
  json?: boolean;
  cwd?: string;
  signal?: AbortSignal;
  reporter?: Reporter;
}

export interface ExtractConfigResult {
  store: string;
  key: string;
  cached: boolean;
  meta: Record<string, unknown>;
}

/**
 * `lo-exp extract CONFIG`: run the data → split → extract stages of the pipeline (cached and
 * resumable like `lo-exp run`) and return where the TokenStore is.
 */
export async function extractConfig(path: string, opts: ExtractConfigOptions = {}): Promise<ExtractConfigResult> {
  const cwd = opts.cwd ?? process.cwd();
  const sets = [...(opts.sets ?? [])];
  if (opts.retryFailed) sets.push("extract.retry_failed=true"); // not part of the store key: same store, failed items re-attempted
  const { config } = await loadConfig(path, { sets, cwd });
  const reporter = opts.reporter ?? new Reporter({ mode: defaultLogMode(opts.json ?? false) });
  const resources = new RunResources(config.workers, reporter);
  const stages = pipelineStages().filter((s) => ["data", "split", "extract"].includes(s.name));
  const signal = opts.signal ?? new AbortController().signal;
  const onAbort = () => void resources.close();
  signal.addEventListener("abort", onAbort);
  try {
    const outputs: Map<string, StageOutput> = await runGraph(stages, config, {
      cacheDir: config.cache_dir,
      reporter,
      resources,
      force: opts.force ? ["extract"] : [],
      signal,
    });
    const ex = outputs.get("extract");
    if (!ex) throw new Error("this config uses no video content (recommender.item_content is false), so there is nothing to extract");
    const store = resolve(ex.dir, String(ex.meta.store ?? "store"));
    if (opts.retryFailed && ex.cached && Number(ex.meta.failed ?? 0) > 0) {
      // Re-attempt only the failed items, in place in the finished store (failures are not part of
      // its key). Stages downstream of it (train, ...) are not invalidated: --force them to use the new items.
      const pool = await resources.pool();
      const model = config.model as unknown as BackboneConfig;
      const extract = { ...(config.extract as unknown as ExtractSettings), retry_failed: true };
      const modelPath = await ensureBackbonePath(model, join(config.cache_dir, "models"), pool);
      const items: ExtractItem[] = readSplit(outputs.get("split")!.dir).items.map((it) => ({ item: it.item, video: it.video, title: it.title }));
      const report = await runExtraction({ model, extract }, {
        storeDir: store, items, dataset: outputs.get("split")!.key, modelPath, workers: pool, key: ex.key, signal,
        onProgress: (p) => reporter.progress("extract", { done: p.done, total: p.total, unit: "videos", message: p.message }),
        log: (m) => reporter.log(m, "extract"),
      });
      reporter.log(`retried failed items: ${report.extracted} extracted, ${report.failed.length} still failed`, "extract");
      return { store, key: ex.key, cached: false, meta: { ...ex.meta, failed: report.failed.length, retried: report.extracted } };
    }
    return { store, key: ex.key, cached: ex.cached, meta: ex.meta };
  } finally {
    signal.removeEventListener("abort", onAbort);
    await resources.close();
  }
}

export interface BenchExtractOptions {
  gpu?: boolean;
  /** CPU: a local model dir instead of a freshly built tiny model */
  modelPath?: string;
  batchSizes?: number[];
  frames?: number[];
  items?: number;
  repeats?: number;
  maxNewTokens?: number;
  /** where the JSON goes (not written when absent) */
  out?: string;
  threads?: number;
  onProgress?: (p: ProgressInfo) => void;
}

export interface BenchExtractRow {
  batch_size: number;
  frames: number;
  items: number;
  error?: string;
  prompt_tokens?: number;
  plain_s?: number;
  hooks_s?: number;
  reduce_s?: number;
  hook_overhead?: number;
  items_per_s_plain?: number;
  items_per_s_hooks?: number;
  items_per_s_extract?: number;
  s_per_video?: number;
  captured_mb_per_batch?: number;
  peak_rss_mb?: number;
  peak_gpu_mb_plain?: number;
  peak_gpu_mb_hooks?: number;
}

export interface BenchExtractResult {
  bench: "extract";
  model: string;
  device: string;
  threads: number;
  dtype: string;
  taps: number[];
  max_new_tokens: number;
  rows: BenchExtractRow[];
  hook_overhead: number | null;
  items_per_s: number | null;
  peak_rss_mb: number;
  date?: string;
}

/** Run the extraction benchmark on one worker (CPU, or cuda:0 with `gpu`) and write its JSON to `out`. */
export async function benchExtract(opts: BenchExtractOptions): Promise<BenchExtractResult> {
  const args: Record<string, unknown> = { gpu: opts.gpu ?? false };
  if (opts.modelPath) args.model_path = resolve(opts.modelPath);
  if (opts.batchSizes?.length) args.batch_sizes = opts.batchSizes;
  if (opts.frames?.length) args.frames = opts.frames;
  if (opts.items) args.items = opts.items;
  if (opts.repeats) args.repeats = opts.repeats;
  if (opts.maxNewTokens) args.max_new_tokens = opts.maxNewTokens;
  return runBenchOp<BenchExtractResult>("bench_extract", args, opts);
}

/**
 * The `extract` entry of `lo-exp bench` (ts/cli/commands/bench.ts): tiny model on CPU, or with `gpu`
 * the 7B configuration with random bf16 weights on cuda:0. `quick`: 3 repeats.
 */
export async function runExtractBench(o: { quick?: boolean; gpu?: boolean; log?: (line: string) => void }): Promise<BenchReport> {
  let last = "";
  const r = await benchExtract({
    gpu: o.gpu ?? false,
    repeats: o.quick ? 3 : 7,
    onProgress: (p) => {
      if (p.message && p.message !== last) o.log?.(p.message);
      last = p.message;
    },
  });
  const pct = (v: number | undefined) => (v === undefined ? "-" : `${(v * 100).toFixed(1)}%`);
  return {
    name: "extract",
    tables: [
      {
        title: `extract — ${r.model} on ${r.device} (${r.threads} thread(s), ${r.dtype}), taps ${JSON.stringify(r.taps)}, ${r.max_new_tokens} new tokens; hook_overhead ${pct(r.hook_overhead ?? undefined)} (goal ≤ 5%)`,
        columns: ["batch", "frames", "prompt tokens", "plain s", "hooks s", "hook overhead", "reduce s", "items/s plain", "items/s extract", "s/video", "captured MB/batch", "peak GPU MB plain/hooks"],
        rows: r.rows.map((x) =>
          x.error
            ? [x.batch_size, x.frames, "-", "-", "-", x.error, "-", "-", "-", "-", "-", "-"]
            : [
                x.batch_size,
                x.frames,
                x.prompt_tokens ?? "-",
                f(x.plain_s, 3),
                f(x.hooks_s, 3),
                pct(x.hook_overhead),
                f(x.reduce_s, 3),
                f(x.items_per_s_plain, 1),
                f(x.items_per_s_extract, 1),
                f(x.s_per_video, 4),
                f(x.captured_mb_per_batch, 2),
                x.peak_gpu_mb_plain !== undefined ? `${f(x.peak_gpu_mb_plain, 0)} / ${f(x.peak_gpu_mb_hooks, 0)}` : "-",
              ],
        ),
      },
    ],
    json: r as unknown as Record<string, unknown>,
  };
}

const f = (v: number | undefined, digits: number): string => (v === undefined ? "-" : v.toFixed(digits));

/** A markdown table of a bench result (also what docs/benchmarks.md records). */
export function formatBenchExtract(r: BenchExtractResult): string {
  const lines = [
    `extract benchmark — ${r.model} on ${r.device} (${r.threads} thread(s), ${r.dtype}), taps ${JSON.stringify(r.taps)}, ${r.max_new_tokens} new tokens`,
    "",
    "| batch | frames | prompt tokens | plain s | hooks s | hook overhead | reduce s | items/s (plain) | items/s (extract) | s/video | captured MB/batch | peak GPU MB plain/hooks |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const x of r.rows) {
    if (x.error) {
      lines.push(`| ${x.batch_size} | ${x.frames} | - | - | - | ${x.error} | - | - | - | - | - | - |`);
      continue;
    }
    const gpu = x.peak_gpu_mb_plain !== undefined ? `${f(x.peak_gpu_mb_plain, 0)} / ${f(x.peak_gpu_mb_hooks, 0)}` : "-";
    lines.push(
      `| ${x.batch_size} | ${x.frames} | ${x.prompt_tokens} | ${f(x.plain_s, 3)} | ${f(x.hooks_s, 3)} | ${f((x.hook_overhead ?? 0) * 100, 1)}% | ${f(x.reduce_s, 3)} | ${f(x.items_per_s_plain, 1)} | ${f(x.items_per_s_extract, 1)} | ${f(x.s_per_video, 4)} | ${f(x.captured_mb_per_batch, 2)} | ${gpu} |`,
    );
  }
  lines.push("", `hook_overhead (worst row): ${r.hook_overhead === null ? "-" : `${(r.hook_overhead * 100).toFixed(1)}%`} (goal ≤ 5%); peak RSS ${r.peak_rss_mb.toFixed(0)} MB`);
  return `${lines.join("\n")}\n`;
}
