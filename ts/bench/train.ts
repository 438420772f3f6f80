// Library function behind `lo-exp bench train`: training throughput (user sequences/s) of the default
// recommender + train config, measured by the worker op `bench_train` (py/linkedout/bench/train.py).
import type { ProgressInfo } from "../worker/protocol.js";
import { runBenchOp, type BenchReport } from "./report.js";

export interface BenchTrainOptions {
  /** "tiny" = the quick-start backbone's TokenStore shapes; "7b" = LLaVA-OneVision-7B's (d=3584, 7 taps). */
  preset?: "tiny" | "7b";
  /** run on cuda:0 (fp32 and bf16 rows) instead of the CPU (fp32) */
  gpu?: boolean;
  /** sequences per step; 0/undefined = the train config default (256) */
  batchSize?: number;
  steps?: number;
  warmup?: number;
  /** torch threads of the worker (CPU) */
  threads?: number;
  precisions?: ("fp32" | "bf16" | "fp16")[];
  /** where to write the JSON result (written to a temporary name, then renamed) */
  out?: string;
  onProgress?: (p: ProgressInfo) => void;
}

export interface BenchTrainRow {
  what: "train";
  preset: string;
  device: string;
  precision: string;
  threads: number;
  batch_sequences: number;
  items_per_batch: number;
  steps: number;
  step_s: number;
  sequences_per_s: number;
  items_per_s: number;
  parameters: number;
  d_model: number;
  taps: number;
  merged_tokens: number;
  new_tokens: number;
  prompts: number;
  peak_rss_mb: number;
  peak_gpu_mb: number | null;
}

export interface BenchTrainResult {
  bench: "train";
  rows: BenchTrainRow[];
  date: string;
}

/** Run the `bench_train` op on one worker, optionally write the JSON, return it. */
export async function benchTrain(opts: BenchTrainOptions = {}): Promise<BenchTrainResult> {
  const args: Record<string, unknown> = { preset: opts.preset ?? "tiny" };
  if (opts.batchSize) args.batch_size = opts.batchSize;
  if (opts.steps) args.steps = opts.steps;
  if (opts.warmup !== undefined) args.warmup = opts.warmup;
  if (opts.precisions?.length) args.precisions = opts.precisions;
  const r = await runBenchOp<"bench_train", { rows: BenchTrainRow[] }>("bench_train", args, opts);
  return { bench: "train", rows: r.rows, date: r.date };
}

const TRAIN_COLUMNS = ["preset", "device", "precision", "threads", "batch (seq)", "items/batch", "step s", "sequences/s", "items/s", "params", "peak RSS MB", "peak GPU MB"];

/** Rows of a result as a bench table (rendered by formatBenchReport; what docs/benchmarks.md records). */
export function trainBenchReport(r: BenchTrainResult): BenchReport {
  const rows = r.rows.map((x) => [
    `${x.preset} (d=${x.d_model}, ${x.taps} taps)`, x.device, x.precision, x.threads, x.batch_sequences, x.items_per_batch.toFixed(0),
    x.step_s.toFixed(3), x.sequences_per_s.toFixed(1), x.items_per_s.toFixed(1), `${(x.parameters / 1e6).toFixed(2)}M`,
    x.peak_rss_mb.toFixed(0), x.peak_gpu_mb === null ? "-" : x.peak_gpu_mb.toFixed(0),
  ]);
  const title = "train — default recommender (compressor + MoE + SASRec) and train config; one real train_step per step, median";
  return { name: "train", tables: [{ title, columns: TRAIN_COLUMNS, rows }], json: { ...r } };
}

/**
 * `lo-exp bench train`: the quick-start shapes at the default batch (256), then the LLaVA-OneVision-7B
 * shapes at batch 16 (CPU memory); `quick` = tiny shapes, batch 32, 2 steps.
 */
export async function runTrainBench(o: { quick: boolean; log: (line: string) => void; threads?: number }): Promise<BenchReport> {
  const threads = o.threads ?? 2;
  const progress = (p: ProgressInfo) => o.log(`bench train: ${p.message ?? ""} (${p.done}/${p.total ?? "?"})`);
  const runs: BenchTrainOptions[] = o.quick
    ? [{ preset: "tiny", batchSize: 32, steps: 2, warmup: 1 }]
    : [{ preset: "tiny", steps: 3, warmup: 1 }, { preset: "7b", batchSize: 16, steps: 2, warmup: 1 }];
  const rows: BenchTrainRow[] = [];
  for (const run of runs) rows.push(...(await benchTrain({ ...run, threads, onProgress: progress })).rows);
  return trainBenchReport({ bench: "train", rows, date: new Date().toISOString() });
}
