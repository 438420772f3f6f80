// `lo-exp bench gpu [--tiny]`: every GPU path at 7B shapes in one prepared command (extraction with
// hooks, a training step for each train.feature_cache placement with the store's pages dropped, 1M-item top-K), measured by the Python script
// py/linkedout/bench/gpu.py run as a subprocess (a long CUDA init needs no worker heartbeats).
// `--tiny` runs the same code at toy sizes on the CPU: the test suite runs it so the script cannot rot.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { findPython, REPO_ROOT } from "../worker/index.js";
import type { BenchReport } from "./report.js";

export interface GpuExtractRow {
  batch_size: number;
  error?: string;
  prompt_tokens?: number;
  s_per_video?: number;
  hook_overhead?: number;
  peak_gpu_mb_hooks?: number;
}

export type TrainFeaturePlacement = "off" | "host" | "device";

/** The JSON of py/linkedout/bench/gpu.py (keys used here; the file has more). */
export interface GpuBenchResult {
  bench: "gpu";
  tiny: boolean;
  device: string;
  extract_rows: GpuExtractRow[];
  /** end to end: decode, preprocess, one pass per video, reduce, store write (the goal applies to it) */
  extract_s_per_video: number | null;
  /** the model's calls alone (prefix forward + generate with hooks) */
  extract_s_per_video_generate: number | null;
  /** end-to-end wall time with 2 prompts ÷ 1 prompt, same videos */
  prompts_2_vs_1: number | null;
  prompts_2_vs_1_row_by_row: number | null;
  extract_prefill_share: number | null;
  hook_overhead: number | null;
  /** train.feature_cache placement → seconds per step: serial (gather + copy + step; `off` from a cold store) */
  train_step_s_from_store: Record<TrainFeaturePlacement, number>;
  /** the same with the next batch staged while the step runs, as the training loop does */
  train_step_s_pipelined: Record<TrainFeaturePlacement, number>;
  /** seconds to fill the cache from the cold store, once per run */
  feature_cache_fill_s: Partial<Record<TrainFeaturePlacement, number>>;
  train_step_s_resident: number;
  train_store_over_resident: number;
  io_fraction: number;
  train_items_per_step: number;
  train_batch_sequences: number;
  store_pages_dropped: { ok: boolean; drops: number; resident_mib_after_max: number | null; errors: string[] };
  /** peak GPU memory per section (null on the CPU) */
  peak_gpu_mb: Record<string, number | null>;
  topk_1m_ms: number;
  topk_items: number;
  topk_users: number;
  topk_k: number;
  seconds: number;
  goals: { extract_s_per_video: number; hook_overhead: number; train_store_over_resident: number };
  meets_goals: Record<string, boolean>;
  date?: string;
}

/** Run the script (cuda by default, the CPU with `tiny`); its progress lines go to `log`. */
export async function benchGpu(o: { tiny?: boolean; log?: (line: string) => void }): Promise<GpuBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), "lo-bench-gpu-"));
  const out = join(dir, "gpu.json");
  try {
    const child = spawn(findPython(), ["-m", "linkedout.bench.gpu", "--out", out, ...(o.tiny ? ["--tiny"] : [])], {
      env: { ...process.env, PYTHONPATH: [join(REPO_ROOT, "py"), process.env.PYTHONPATH].filter(Boolean).join(":"), PYTHONUNBUFFERED: "1", HF_HUB_OFFLINE: "1" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let tail: string[] = [];
    const closed = new Promise<number>((resolve) => child.on("close", (code) => resolve(code ?? 1)));
    for await (const line of createInterface({ input: child.stderr })) {
      tail = [...tail.slice(-20), line];
      if (line.startsWith("[bench gpu")) o.log?.(line);
    }
    const code = await closed;
    if (code !== 0) throw new Error(`bench gpu: the script failed (exit ${code}):\n${tail.join("\n")}`);
    return { ...(JSON.parse(readFileSync(out, "utf8")) as GpuBenchResult), date: new Date().toISOString() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const f = (v: number | null | undefined, digits: number): string => (v === null || v === undefined ? "-" : v.toFixed(digits));
const pct = (v: number | null | undefined): string => (v === null || v === undefined ? "-" : `${(100 * v).toFixed(1)}%`);

/** The `gpu` entry of `lo-exp bench` (ts/cli/commands/bench.ts). */
export async function runGpuBench(o: { tiny?: boolean; log?: (line: string) => void }): Promise<BenchReport> {
  const r = await benchGpu(o);
  const ok = (k: string) => (r.meets_goals[k] ? "yes" : "no");
  return {
    name: "gpu",
    tables: [
      {
        title: `bench gpu — ${r.tiny ? "--tiny (toy sizes, CPU)" : "7B shapes"} on ${r.device}, ${r.date?.slice(0, 10)}, ${r.seconds.toFixed(0)} s`,
        columns: ["measure", "value", "goal", "met"],
        rows: [
          ["extraction s/video end to end (bf16, SDPA, 8 frames, 2 prompts, one pass per video; decode → store write)", f(r.extract_s_per_video, 3), `≤ ${r.goals.extract_s_per_video}`, ok("extract_s_per_video")],
          ["extraction s/video, generate alone (prefix + generate with hooks)", f(r.extract_s_per_video_generate, 3), "", ""],
          [`extraction 2 prompts ÷ 1, end to end (row by row: ${f(r.prompts_2_vs_1_row_by_row, 2)}; prefill ${pct(r.extract_prefill_share)} of a row)`, f(r.prompts_2_vs_1, 2), "≤ 1.3", ""],
          ["hook overhead (worst batch)", pct(r.hook_overhead), `≤ ${pct(r.goals.hook_overhead)}`, ok("hook_overhead")],
          ...(["device", "host", "off"] as const).map((mode) => [
            `train step, feature_cache ${mode} (${r.train_batch_sequences} sequences, ${r.train_items_per_step.toFixed(0)} items/step): serial / pipelined`,
            `${f(r.train_step_s_from_store[mode], 3)} / ${f(r.train_step_s_pipelined[mode], 3)} s`,
            "",
            "",
          ]),
          ["host cache ÷ resident (pipelined)", f(r.train_store_over_resident, 2), `≤ ${r.goals.train_store_over_resident}`, ok("train_store_over_resident")],
          ["io_fraction (1 − device / off, serial)", pct(r.io_fraction), "", ""],
          ["store pages dropped from the page cache before each read", r.store_pages_dropped.ok ? "yes" : `no ${r.store_pages_dropped.errors.join("; ")}`, "yes", r.store_pages_dropped.ok ? "yes" : "no"],
          [`top-${r.topk_k}, ${r.topk_users} users × ${r.topk_items} items`, `${f(r.topk_1m_ms, 1)} ms`, "", ""],
          ...Object.entries(r.peak_gpu_mb).map(([section, mb]) => [`peak GPU MB, ${section}`, f(mb, 0), "", ""]),
        ],
      },
      {
        title: "extraction per batch size (row-by-row generate + reduce, what hook_overhead is measured on)",
        columns: ["batch (rows)", "prompt tokens", "s/video (row by row)", "hook overhead", "peak GPU MB (hooks)"],
        rows: r.extract_rows.map((x) => (x.error ? [x.batch_size, "-", x.error, "-", "-"] : [x.batch_size, x.prompt_tokens ?? "-", f(x.s_per_video, 3), pct(x.hook_overhead), f(x.peak_gpu_mb_hooks, 0)])),
      },
    ],
    json: r as unknown as Record<string, unknown>,
  };
}
