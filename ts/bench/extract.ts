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
  /** prompts_2_vs_1: videos, repeats */
  ratioVideos?: number;
  ratioRepeats?: number;
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

/** `extract_shard` end to end (decode, preprocess, model, reduce, store write) beside the model's calls alone. */
export interface BenchExtractEndToEnd {
  videos: number;
  prompts: number;
  frames: number;
  batch_size: number;
  repeats: number;
  s_per_video_end_to_end: number;
  s_per_video_generate: number;
  generate_share_of_end_to_end: number;
}

/** The random backbone `prompts_2_vs_1` is measured on (py/linkedout/extract/tiny_model.py). */
export interface BenchExtractShape {
  name: string;
  text_layers: number;
  d_model: number;
  heads: number;
  kv_heads: number;
  mlp: number;
  vision_layers: number;
  vision_d: number;
  frame_px: number;
  tokens_per_frame: number;
  frames: number;
  params_m: number;
  dtype: string;
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
  end_to_end: BenchExtractEndToEnd;
  s_per_video_end_to_end: number;
  s_per_video_generate: number;
  /** end-to-end wall time with 2 prompts ÷ 1 prompt, same videos, same run (one pass per video; goal ≤ 1.3) */
  prompts_2_vs_1: number;
  /** the same ratio for the row-by-row reference path (≈ 2) */
  prompts_2_vs_1_row_by_row: number;
  /** the same two ratios of the process's CPU time (not stretched by other processes' load) */
  prompts_2_vs_1_cpu: number;
  prompts_2_vs_1_row_by_row_cpu: number;
  prompts_ratio_shape: BenchExtractShape;
  /** a 1-prompt row's vision + prefill ÷ the whole row */
  prefill_share: number;
  prompt_tokens: number;
  prompts_ratio_videos: number;
  prompts_ratio_repeats: number;
  s_per_video_end_to_end_1_prompt: number;
  s_per_video_end_to_end_2_prompts: number;
  s_per_video_end_to_end_2_prompts_row_by_row: number;
  load_average: number[];
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
  if (opts.ratioVideos) args.ratio_videos = opts.ratioVideos;
  if (opts.ratioRepeats) args.ratio_repeats = opts.ratioRepeats;
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
    ...(o.quick ? { ratioVideos: 2, ratioRepeats: 1 } : {}),
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
      {
        title: `extract end to end — ${r.end_to_end.videos} rendered videos × ${r.end_to_end.prompts} prompts, ${r.end_to_end.frames} frames, batch ${r.end_to_end.batch_size} rows, one pass per video; load average ${loadAverage(r.load_average)}`,
        columns: ["s/video end to end (decode, preprocess, generate, reduce, store write)", "s/video generate (prefix + generate with hooks)", "generate share"],
        rows: [[f(r.s_per_video_end_to_end, 4), f(r.s_per_video_generate, 4), pct(r.end_to_end.generate_share_of_end_to_end)]],
      },
      {
        title: `prompts 2 vs 1 — ${describeShape(r.prompts_ratio_shape)}, ${r.prompt_tokens} prompt tokens; prefill ${pct(r.prefill_share)} of a row; ${r.prompts_ratio_videos} videos × ${r.prompts_ratio_repeats} repeat(s)`,
        columns: ["path", "s/video 1 prompt", "s/video 2 prompts", "2 prompts ÷ 1 (wall)", "2 prompts ÷ 1 (CPU time)", "goal"],
        rows: [
          ["one pass per video", f(r.s_per_video_end_to_end_1_prompt, 3), f(r.s_per_video_end_to_end_2_prompts, 3), f(r.prompts_2_vs_1, 2), f(r.prompts_2_vs_1_cpu, 2), "≤ 1.3"],
          ["row by row (reference)", f(r.s_per_video_end_to_end_1_prompt, 3), f(r.s_per_video_end_to_end_2_prompts_row_by_row, 3), f(r.prompts_2_vs_1_row_by_row, 2), f(r.prompts_2_vs_1_row_by_row_cpu, 2), ""],
        ],
      },
    ],
    json: r as unknown as Record<string, unknown>,
  };
}

const loadAverage = (l: number[] | undefined): string => (l ? l.map((x) => x.toFixed(2)).join(" / ") : "-");

/** "lm-small: Qwen2 4 layers, d 512 (8 heads, 2 KV, MLP 2816) + SigLIP 2 layers d 32, 384 px, 196 tokens/frame × 8 frames, 20.8 M params, float32" */
export function describeShape(s: BenchExtractShape): string {
  return (
    `${s.name}: Qwen2 ${s.text_layers} layers, d ${s.d_model} (${s.heads} heads, ${s.kv_heads} KV, MLP ${s.mlp}) + SigLIP ${s.vision_layers} layers d ${s.vision_d}, ` +
    `${s.frame_px} px, ${s.tokens_per_frame} tokens/frame × ${s.frames} frames, ${s.params_m.toFixed(1)} M params, ${s.dtype}`
  );
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
  lines.push(
    "",
    `end to end (${r.end_to_end.videos} videos × ${r.end_to_end.prompts} prompts): ${f(r.s_per_video_end_to_end, 4)} s/video; generate alone ${f(r.s_per_video_generate, 4)} s/video`,
    `prompts_2_vs_1: ${f(r.prompts_2_vs_1, 2)}, CPU time ${f(r.prompts_2_vs_1_cpu, 2)} (goal ≤ 1.3; row by row ${f(r.prompts_2_vs_1_row_by_row, 2)}, CPU time ${f(r.prompts_2_vs_1_row_by_row_cpu, 2)}) on ${describeShape(r.prompts_ratio_shape)}; prefill ${(100 * r.prefill_share).toFixed(0)}% of a row; load average ${loadAverage(r.load_average)}`,
  );
  return `${lines.join("\n")}\n`;
}
