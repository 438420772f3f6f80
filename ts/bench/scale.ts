// `lo-exp bench scale`: the product at MicroLens-100K size on this machine. Synthetic MicroLens-shaped data
// (synthesizeDataset) → the real pipeline (runConfig: split → [extract] → train (1 epoch) → embed → rank →
// metrics → report) with per-stage wall s, CPU s, peak RSS of every process of the run (workers included,
// sampled from /proc) and bytes written; then, in the same run, the floor: the bare scoring matmul + top-K +
// target rank of the same shapes on the same workers and threads (worker op `bench_rank_floor`).
// Measured, never asserted in tests.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { stringify as toYaml } from "yaml";
import { configDefaults } from "../config/index.js";
import { synthesizeDataset } from "../data/synth.js";
import { runConfig } from "../schedule/run.js";
import { Reporter, type RunEvent } from "../schedule/progress.js";
import { RunResources } from "../schedule/resources.js";
import { WorkerPool } from "../worker/index.js";
import { REPO_ROOT } from "../worker/python.js";
import type { BenchReport } from "./report.js";

export interface ScaleBenchOptions {
  /** users (default 100,000 = MicroLens-100K) */
  users?: number;
  /** catalogue size (default 19,738) */
  items?: number;
  /** render videos and extract the whole catalogue with the tiny backbone (configs/linkedout.yaml) */
  content?: boolean;
  /** --set overrides for the pipeline's config (e.g. train.negatives=full) */
  sets?: readonly string[];
  /** working folder (default a temporary one, removed at the end) */
  workDir?: string;
  log?: (line: string) => void;
}

export interface StageFigures {
  status: "done" | "cached" | "skipped" | "failed";
  wall_s: number;
  cpu_s: number;
  /** the largest resident set of any one process of the run during the stage */
  peak_rss_mb: number;
  /** bytes the run's processes caused to be written to storage (/proc/PID/io write_bytes) */
  disk_mb: number;
  /** peak RSS per process: "lo-exp" (this Node process), "worker <pid>" (its Python workers), "<comm> <pid>" (others) */
  processes: Record<string, number>;
}

// ---------------------------------------------------------------------------------------------
// /proc sampling of this process and its descendants
// ---------------------------------------------------------------------------------------------

interface ProcSample {
  comm: string;
  ppid: number;
  cpuS: number; // own user + system, plus reaped children's (not for the root: its children are sampled)
  rssMb: number;
  writeMb: number;
}

const TICKS = 100; // USER_HZ on Linux
const PAGE_MB = 4096 / 1e6;

function readProc(pid: number, root: boolean): ProcSample | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = stat.lastIndexOf(")");
    const comm = stat.slice(stat.indexOf("(") + 1, close);
    const f = stat.slice(close + 2).split(" "); // f[0] = field 3 (state)
    const ticks = Number(f[11]) + Number(f[12]) + (root ? 0 : Number(f[13]) + Number(f[14]));
    let writeMb = 0;
    try {
      const io = readFileSync(`/proc/${pid}/io`, "utf8");
      writeMb = Number(/write_bytes:\s*(\d+)/.exec(io)?.[1] ?? 0) / 1e6;
    } catch {
      // not readable: counted as 0
    }
    return { comm, ppid: Number(f[1]), cpuS: ticks / TICKS, rssMb: Number(f[21]) * PAGE_MB, writeMb };
  } catch {
    return null; // gone
  }
}

/** This process and every descendant, by pid. */
function sampleTree(): Map<number, ProcSample> {
  const all = new Map<number, ProcSample>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const s = readProc(pid, pid === process.pid);
    if (s) all.set(pid, s);
  }
  const tree = new Map<number, ProcSample>();
  const want = new Set([process.pid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, s] of all) {
      if (!want.has(pid) && want.has(s.ppid)) {
        want.add(pid);
        grew = true;
      }
    }
  }
  for (const pid of want) if (all.has(pid)) tree.set(pid, all.get(pid)!);
  return tree;
}

/** Accumulates one stage's figures from samples taken while it runs. */
class StageMeter {
  private readonly start = new Map<number, ProcSample>();
  private readonly last = new Map<number, ProcSample>();
  private readonly peak = new Map<number, number>();
  private readonly t0 = performance.now();

  constructor(first: Map<number, ProcSample>) {
    for (const [pid, s] of first) this.start.set(pid, s);
    this.add(first);
  }

  add(sample: Map<number, ProcSample>): void {
    for (const [pid, s] of sample) {
      this.last.set(pid, s);
      this.peak.set(pid, Math.max(this.peak.get(pid) ?? 0, s.rssMb));
    }
  }

  finish(status: StageFigures["status"]): StageFigures {
    this.add(sampleTree());
    let cpu = 0;
    let disk = 0;
    const processes: Record<string, number> = {};
    for (const [pid, s] of this.last) {
      const s0 = this.start.get(pid);
      cpu += s.cpuS - (s0?.cpuS ?? 0);
      disk += s.writeMb - (s0?.writeMb ?? 0);
      const name = pid === process.pid ? "lo-exp" : `${s.ppid === process.pid && s.comm.startsWith("python") ? "worker" : s.comm} ${pid}`;
      processes[name] = round(this.peak.get(pid) ?? 0, 1);
    }
    return {
      status,
      wall_s: round((performance.now() - this.t0) / 1000, 2),
      cpu_s: round(cpu, 2),
      peak_rss_mb: round(Math.max(0, ...this.peak.values()), 1),
      disk_mb: round(disk, 1),
      processes,
    };
  }
}

/** Samples the process tree every `intervalMs` and feeds the open stage meters. */
class Sampler {
  private readonly open = new Map<string, StageMeter>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly intervalMs = 250) {}

  begin(stage: string): void {
    this.open.set(stage, new StageMeter(sampleTree()));
    this.timer ??= setInterval(() => {
      const s = sampleTree();
      for (const m of this.open.values()) m.add(s);
    }, this.intervalMs);
  }

  end(stage: string, status: StageFigures["status"]): StageFigures | undefined {
    const m = this.open.get(stage);
    this.open.delete(stage);
    if (this.open.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
    return m?.finish(status);
  }
}

/** A Reporter that also times the pipeline's stages (graph events stage_start … stage_done). */
class MeteredReporter extends Reporter {
  readonly stages: Record<string, StageFigures> = {};

  constructor(
    private readonly sampler: Sampler,
    write: (text: string) => void,
  ) {
    super({ mode: "plain", write, plainIntervalS: 30 });
  }

  override emit(ev: RunEvent): void {
    if (ev.event === "stage_start") this.sampler.begin(ev.stage);
    else if (ev.event === "stage_done" || ev.event === "stage_failed") {
      const f = this.sampler.end(ev.stage, ev.event === "stage_done" ? "done" : "failed");
      if (f) this.stages[ev.stage] = f;
    } else if (ev.event === "cache_hit") this.stages[ev.stage] = { status: "cached", wall_s: 0, cpu_s: 0, peak_rss_mb: 0, disk_mb: 0, processes: {} };
    else if (ev.event === "stage_skipped") this.stages[ev.stage] = { status: "skipped", wall_s: 0, cpu_s: 0, peak_rss_mb: 0, disk_mb: 0, processes: {} };
    super.emit(ev);
  }
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function loadAvg(): [number, number, number] {
  const [a, b, c] = loadavg();
  return [round(a!, 2), round(b!, 2), round(c!, 2)];
}

// ---------------------------------------------------------------------------------------------
// The bench
// ---------------------------------------------------------------------------------------------

const WORKERS = 2; // configs/linkedout.yaml: two CPU workers, one thread each
const START_TIMEOUT_S = 600; // a worker starts in seconds, but on a shared machine at load 20+ it took minutes

/** Run the whole bench; the working folder is removed unless `workDir` was given. */
export async function runScaleBench(opts: ScaleBenchOptions = {}): Promise<BenchReport> {
  const users = opts.users ?? 100_000;
  const items = opts.items ?? 19_738;
  const content = opts.content ?? false;
  const log = opts.log ?? (() => undefined);
  const root = opts.workDir ? resolve(opts.workDir) : mkdtempSync(join(tmpdir(), "lo-bench-scale-"));
  mkdirSync(root, { recursive: true });
  const loadStart = loadAvg();
  const sampler = new Sampler();
  const reporter = new MeteredReporter(sampler, (text) => log(text.replace(/\n$/, "")));
  const started = performance.now();
  try {
    // synth: the synthetic MicroLens-shaped set (videos only with --content), as `lo-exp data synth` writes it;
    // the pipeline's own `data` stage then reads it in place (dataset.source: microlens)
    const dataDir = join(root, "data");
    log(`bench scale: ${users} users × ${items} items${content ? ", videos rendered and extracted" : ", ID-only"} in ${root}`);
    sampler.begin("synth");
    let dataStatus: StageFigures["status"] = "failed";
    let pool: WorkerPool | null = null;
    try {
      if (content) pool = await WorkerPool.start({ count: WORKERS, device: "cpu", threads: 1, startTimeoutS: START_TIMEOUT_S });
      await synthesizeDataset({ out: dataDir, users, items, videos: content, parallel: WORKERS }, pool, (p) => {
        if (p.stage === "videos" && p.done % 1000 === 0) log(`data: ${p.done}/${p.total} videos`);
      });
      dataStatus = "done";
    } finally {
      await pool?.close();
      reporter.stages.synth = sampler.end("synth", dataStatus)!;
    }

    // split → [extract] → train → embed → rank → metrics → report: the product's pipeline, one epoch
    const configPath = join(root, "bench-scale.yaml");
    const config = {
      extends: join(REPO_ROOT, "configs", content ? "linkedout.yaml" : "sasrec-id.yaml"),
      name: "bench-scale",
      cache_dir: join(root, "cache"),
      results_dir: join(root, "results"),
      dataset: { source: "microlens", dir: dataDir, on_missing_video: content ? "error" : "keep" },
      train: { epochs: 1, early_stopping_patience: 0 },
      workers: { count: WORKERS, threads: 1 },
    };
    writeFileSync(configPath, toYaml(config));
    const sets = opts.sets ?? [];
    // the run's worker pool stays up after the pipeline, so the floor runs on the very workers that ranked
    const resources = new RunResources({ ...configDefaults().workers, count: WORKERS, threads: 1 }, reporter, START_TIMEOUT_S);
    try {
      const run = await runConfig(configPath, { reporter, cwd: root, sets, print: () => undefined }, { reporter, resources });
      const spec = JSON.parse(readFileSync(join(run.outputs.get("train")!.dir, "spec.json"), "utf8")) as {
        recommender: { d_z: number };
        train: { topk: number; eval_batch_users: number };
      };
      const splitCounts = run.outputs.get("split")!.meta.counts as Record<string, number>;
      const rankedUsers = 2 * Number(splitCounts.usersKept ?? users); // valid + test

      // the floor: the same shapes on the run's workers at once (one thread each, as the rank shards ran),
      // each with its share of the users
      log("floor: bare matmul + top-K + target rank on the same shapes, workers and threads");
      const pool = await resources.pool();
      const share = Math.ceil(rankedUsers / pool.size);
      const nItems = Number(splitCounts.itemsKept ?? items);
      const floorArgs = { users: share, items: nItems, d: spec.recommender.d_z, k: spec.train.topk, batch_users: spec.train.eval_batch_users };
      const floorRuns = await Promise.all(pool.workers.map((w) => w.call<"bench_rank_floor", { seconds: number }>("bench_rank_floor", floorArgs)));
      const floorS = Math.max(...floorRuns.map((x) => x.result.seconds));

      const stages = reporter.stages;
      const rankS = (stages.rank?.wall_s ?? 0) + (stages.metrics?.wall_s ?? 0);
      const json = {
        what: "scale",
        users,
        items,
        content,
        sets,
        kept: splitCounts,
        ranked_users: rankedUsers,
        workers: WORKERS,
        threads_per_worker: 1,
        cores: availableParallelism(),
        stages,
        floor_s: round(floorS, 4),
        rank_plus_metrics_s: round(rankS, 2),
        rank_vs_bare: round(rankS / floorS, 2),
        test_hr10: run.metrics.rows.find((r) => r.split === "test" && r.slice === "overall")?.hr[10] ?? null,
        total_s: round((performance.now() - started) / 1000, 1),
        load_avg: { start: loadStart, end: loadAvg() },
        date: new Date().toISOString(),
      };
      const order = ["synth", "data", "split", "extract", "train", "embed", "rank", "metrics", "report"];
      const names = [...order.filter((s) => stages[s]), ...Object.keys(stages).filter((s) => !order.includes(s))];
      return {
        name: "scale",
        tables: [
          {
            title: `Scale: ${users} users × ${items} items${content ? " (content)" : " (ID-only)"}, ${WORKERS} workers × 1 thread, load avg ${loadStart.join(" ")} → ${json.load_avg.end.join(" ")}`,
            columns: ["stage", "status", "wall s", "CPU s", "peak RSS MB (max process)", "disk MB"],
            rows: names.map((s) => [s, stages[s]!.status, stages[s]!.wall_s, stages[s]!.cpu_s, stages[s]!.peak_rss_mb, stages[s]!.disk_mb]),
          },
          {
            title: "Ranking against its floor (bare matmul + top-K + target rank, same shapes and threads)",
            columns: ["ranked users", "rank + metrics s", "floor s", "rank_vs_bare"],
            rows: [[rankedUsers, json.rank_plus_metrics_s, json.floor_s, json.rank_vs_bare]],
          },
        ],
        json,
      };
    } finally {
      await resources.close();
    }
  } finally {
    if (!opts.workDir) rmSync(root, { recursive: true, force: true });
  }
}
