// `lo-exp bench extract`: hooks vs plain generate, measured by the worker op `bench_extract`
// (py/linkedout/bench/extract.py).
import { resolve } from "node:path";
import type { ProgressInfo } from "../worker/protocol.js";
import { runBenchOp, type BenchReport } from "./report.js";

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
  return runBenchOp<"bench_extract", BenchExtractResult>("bench_extract", args, opts);
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
