// `lo-exp bench serve`: the paper's Table 5 measured side by side on one catalogue (worker op
// `bench_serve`, py/linkedout/bench/serve.py, says exactly what each row times), then a bounded
// loopback load test of the real HTTP service. docs/serving.md explains the rows; docs/benchmarks.md
// records a run next to the paper's numbers.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os, { tmpdir } from "node:os";
import v8 from "node:v8";
import vm from "node:vm";
import path from "node:path";
import { startWorker, type ProgressInfo } from "../worker/index.js";
import type { BenchReport, BenchTable } from "./report.js";
import { serveDefaults, type ServeBenchSettings } from "../serve/config.js";
import { configDefaults } from "../config/index.js";
import { startRankingService } from "../serve/server.js";

/** History length of the load test's queries: the default ranker's `recommender.ranker.max_history`. */
const HISTORY = configDefaults().recommender.ranker.max_history;

export interface BenchRow {
  path: "a" | "b" | "c" | "d" | "f";
  catalogue: number;
  p50_ms: number;
  p99_ms: number;
  mean_ms: number;
  /** p50 of the thread's CPU time per query (wall time on a shared machine includes waiting for a core) */
  p50_cpu_ms: number;
  n: number;
  batch?: number;
  batched_ms?: number;
  batched_cpu_ms?: number;
  batched_qps?: number;
  extrapolated_from_candidates?: number;
  measured_ms_per_candidate?: number;
  /** row (c): the user tower the service ran (`serve.tower`), and the tower alone per single query timed
   * both ways in one loop (eager module, then the serving tower, each followed by the query's matmul + top-K) */
  tower?: "frozen" | "eager";
  tower_eager_p50_ms?: number;
  tower_p50_ms?: number;
  tower_vs_eager?: number;
}

export interface LoadTestResult {
  clients: number;
  requests: number;
  errors: number;
  p50_ms: number;
  p99_ms: number;
  requests_per_s: number;
  worker_calls: number;
  mean_batch: number;
  /** RSS (MB) of the Node process (front + clients) and of the Python worker after each quarter */
  rss_mb: { node: number[]; worker: number[] };
  /** V8 heap in use (MB) after a full GC, after each quarter: what the Node side really retains */
  node_heap_mb: number[];
  /** growth over the second half (quarter 2 -> 4): Node heap after GC + worker RSS; ~0 = flat */
  memory_growth_mb: number;
}

export interface ServeBenchResult {
  bench: "serve";
  threads: number;
  shapes: Record<string, unknown>;
  rows: BenchRow[];
  load: LoadTestResult | null;
  speedup_vs_paper_path_20k: number | null;
  p50_ms_20k: number | null;
  /** the same query's CPU time (p50): what p50_ms_20k would be on an idle machine */
  p50_cpu_ms_20k: number | null;
  batched_vs_bare_20k: number | null;
  /** (c) batched ÷ (f) batched: ours against the same work with nothing around it (goal ≤ 1.2) */
  batched_vs_floor_20k: number | null;
  batched_vs_floor_cpu_20k: number | null;
  /** (f) single-query p50: the floor p50_ms_20k stands on */
  floor_p50_ms_20k: number | null;
  /** the same ratio in thread CPU time */
  batched_vs_bare_cpu_20k: number | null;
  /** the user tower (c) and (f) ran (`serve.tower`: frozen graph, or eager where the bitwise check failed) */
  user_tower_20k: "frozen" | "eager" | null;
  /** the tower alone per single query, serving tower ÷ eager module, timed side by side */
  tower_vs_eager_20k: number | null;
  /** 1-minute load average at the start: > 2 on 2 cores means the wall times include waiting */
  loadavg_1m: number;
  /** 1-minute load average when the measurements ended */
  loadavg_1m_end: number;
  date: string;
}

export interface BenchServeOptions extends Partial<ServeBenchSettings> {
  /** torch threads of the bench worker and of the service worker (default 1) */
  threads?: number;
  paperBudgetS?: number;
  onProgress?: (p: ProgressInfo) => void;
  log?: (line: string) => void;
}

const PATH_NAMES: Record<BenchRow["path"], string> = {
  a: "(a) direct VLLM ranking",
  b: "(b) paper online path: MoE fusion per query + ranking",
  c: "(c) ours: stored z_v + user tower + top-K",
  d: "(d) bare matmul + top-K",
  f: "(f) floor of (c): bare user tower + matmul + top-K",
};

function rssMb(pid: number | "self"): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = /VmRSS:\s+(\d+)\s+kB/.exec(status);
  return kb ? Number(kb[1]) / 1024 : NaN;
}

/** A full GC before reading memory, so growth means retained objects, not garbage not yet collected. */
function collectGarbage(): void {
  v8.setFlagsFromString("--expose-gc");
  (vm.runInNewContext("gc") as () => void)();
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((q / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** A small deterministic PRNG (mulberry32) for the load test's request mix. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * N concurrent clients send `requests` POST /recommend in total (history of HISTORY random catalogue ids,
 * k = 10) over keep-alive loopback connections, in four quarters with the RSS of both processes read after
 * each: flat memory means the second half grows neither (the first half includes warm-up and GC growth).
 */
export async function loadTest(url: string, workerPid: number, ids: readonly string[], clients: number, requests: number,
                               stats: () => { calls: number; queries: number }): Promise<LoadTestResult> {
  const next = rng(7);
  const bodies = Array.from({ length: Math.min(requests, 4096) }, () =>
    JSON.stringify({ history: Array.from({ length: HISTORY }, () => ids[Math.floor(next() * ids.length)]!), k: 10 }),
  );
  const latencies: number[] = [];
  let errors = 0;
  let sent = 0;
  async function client(limit: number): Promise<void> {
    while (sent < limit) {
      const body = bodies[sent % bodies.length]!;
      sent += 1;
      const t0 = performance.now();
      try {
        const res = await fetch(`${url}/recommend`, { method: "POST", body, headers: { "content-type": "application/json" } });
        const json = (await res.json()) as { items?: unknown[] };
        if (res.status !== 200 || !Array.isArray(json.items) || json.items.length !== 10) errors += 1;
      } catch {
        errors += 1;
      }
      latencies.push(performance.now() - t0);
    }
  }
  const before = stats();
  const started = performance.now();
  const rss: { node: number[]; worker: number[] } = { node: [], worker: [] };
  const heap: number[] = [];
  for (let quarter = 1; quarter <= 4; quarter++) {
    const limit = Math.floor((requests * quarter) / 4);
    await Promise.all(Array.from({ length: clients }, () => client(limit)));
    collectGarbage();
    heap.push(process.memoryUsage().heapUsed / 2 ** 20);
    rss.node.push(rssMb("self"));
    rss.worker.push(rssMb(workerPid));
  }
  const seconds = (performance.now() - started) / 1000;
  const after = stats();
  const sorted = [...latencies].sort((a, b) => a - b);
  const calls = after.calls - before.calls;
  return {
    clients,
    requests: latencies.length,
    errors,
    p50_ms: percentile(sorted, 50),
    p99_ms: percentile(sorted, 99),
    requests_per_s: latencies.length / seconds,
    worker_calls: calls,
    mean_batch: calls ? (after.queries - before.queries) / calls : 0,
    rss_mb: rss,
    node_heap_mb: heap,
    memory_growth_mb: heap[3]! - heap[1]! + (rss.worker[3]! - rss.worker[1]!),
  };
}

export async function benchServe(opts: BenchServeOptions = {}): Promise<ServeBenchResult> {
  const d = { ...serveDefaults().bench, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) } as ServeBenchSettings;
  const threads = opts.threads ?? 1;
  const loadavg = os.loadavg()[0]!;
  const work = mkdtempSync(path.join(tmpdir(), "lo-bench-serve-"));
  try {
    const loadRunDir = path.join(work, "load-run");
    const worker = await startWorker({ device: "cpu", threads, startTimeoutS: 300 });
    let result: { rows: BenchRow[]; threads: number; shapes: Record<string, unknown> };
    try {
      const r = await worker.call<"bench_serve", typeof result>("bench_serve", {
        catalogues: d.catalogues,
        queries: d.queries,
        batch: d.batch,
        vllm_queries: d.vllm_queries,
        vllm_candidates: d.vllm_candidates,
        paper_budget_s: opts.paperBudgetS ?? 20,
        work_dir: work,
        load_run_dir: d.load_requests > 0 ? loadRunDir : undefined,
        load_catalogue: d.catalogues[0],
      }, { onProgress: (p) => { opts.onProgress?.(p); if (p.message) opts.log?.(p.message); } });
      result = r.result;
    } finally {
      await worker.close();
    }
    let load: LoadTestResult | null = null;
    if (d.load_requests > 0) {
      opts.log?.(`load test: ${d.load_clients} clients x ${d.load_requests} requests over loopback HTTP`);
      const svc = await startRankingService({ runDir: loadRunDir, overrides: { port: 0, threads } });
      const ids = Array.from({ length: d.catalogues[0]! }, (_, i) => `i${String(i).padStart(7, "0")}`); // write_bench_run's ids
      try {
        // warm up: connections, the worker's first calls
        await loadTest(svc.url, svc.backend.workerPid, ids, d.load_clients, Math.min(200, d.load_requests), () => ({ ...svc.backend.stats }));
        load = await loadTest(svc.url, svc.backend.workerPid, ids, d.load_clients, d.load_requests, () => ({ ...svc.backend.stats }));
      } finally {
        await svc.close();
      }
    }
    const row = (p: BenchRow["path"], n: number) => result.rows.find((r) => r.path === p && r.catalogue === n);
    const b20 = row("b", 20000);
    const c20 = row("c", 20000);
    const d20 = row("d", 20000);
    const f20 = row("f", 20000);
    return {
      bench: "serve",
      threads: result.threads,
      shapes: result.shapes,
      rows: result.rows,
      load,
      speedup_vs_paper_path_20k: b20 && c20 ? b20.p50_ms / c20.p50_ms : null,
      p50_ms_20k: c20 ? c20.p50_ms : null,
      p50_cpu_ms_20k: c20 ? c20.p50_cpu_ms : null,
      batched_vs_bare_20k: c20?.batched_ms && d20?.batched_ms ? c20.batched_ms / d20.batched_ms : null,
      batched_vs_bare_cpu_20k: c20?.batched_cpu_ms && d20?.batched_cpu_ms ? c20.batched_cpu_ms / d20.batched_cpu_ms : null,
      batched_vs_floor_20k: c20?.batched_ms && f20?.batched_ms ? c20.batched_ms / f20.batched_ms : null,
      batched_vs_floor_cpu_20k: c20?.batched_cpu_ms && f20?.batched_cpu_ms ? c20.batched_cpu_ms / f20.batched_cpu_ms : null,
      floor_p50_ms_20k: f20 ? f20.p50_ms : null,
      user_tower_20k: c20?.tower ?? null,
      tower_vs_eager_20k: c20?.tower_vs_eager ?? null,
      loadavg_1m: loadavg,
      loadavg_1m_end: os.loadavg()[0]!,
      date: new Date().toISOString(),
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const fmt = (v: number | undefined | null, digits = 3): string => (v === undefined || v === null || Number.isNaN(v) ? "-" : v >= 1000 ? Math.round(v).toLocaleString("en-US") : v.toFixed(digits));

/** The `serve` entry of `lo-exp bench`: `quick` = 20k only, fewer queries, a shorter load test. */
export async function runServeBench(o: { quick?: boolean; log?: (line: string) => void; threads?: number } = {}): Promise<BenchReport> {
  const r = await benchServe(
    o.quick
      ? { catalogues: [20000], queries: 100, vllm_queries: 1, load_requests: 400, paperBudgetS: 5, threads: o.threads, log: o.log }
      : { threads: o.threads, log: o.log },
  );
  return serveReport(r);
}

export function serveReport(r: ServeBenchResult): BenchReport {
  const rows = r.rows
    .slice()
    .sort((x, y) => x.catalogue - y.catalogue || x.path.localeCompare(y.path))
    .map((x) => [
      PATH_NAMES[x.path],
      x.catalogue.toLocaleString("en-US"),
      fmt(x.p50_ms),
      fmt(x.p99_ms),
      fmt(x.p50_cpu_ms),
      x.batched_ms !== undefined ? `${fmt(x.batched_ms, 1)} (${x.batch})` : "-",
      x.batched_qps !== undefined ? fmt(x.batched_qps, 0) : "-",
      x.path === "a" ? `extrapolated from ${x.extrapolated_from_candidates} candidates (${fmt(x.measured_ms_per_candidate, 1)} ms each)`
        : x.tower_p50_ms !== undefined ? `${x.n} queries; ${x.tower} tower alone ${fmt(x.tower_p50_ms)} ms, eager ${fmt(x.tower_eager_p50_ms)} ms`
        : `${x.n} queries`,
    ]);
  const tables: BenchTable[] = [
    {
      title: `serve — paper Table 5 on CPU (${r.threads} torch thread(s), load average ${r.loadavg_1m.toFixed(1)} at start); history ${HISTORY}, k 10; shapes ${JSON.stringify(r.shapes)}. ` +
        `speedup_vs_paper_path_20k ${fmt(r.speedup_vs_paper_path_20k, 1)} (goal ≥ 10), p50_ms_20k ${fmt(r.p50_ms_20k)} (goal < 1; CPU time ${fmt(r.p50_cpu_ms_20k)}), ` +
        `batched_vs_floor_20k ${fmt(r.batched_vs_floor_20k, 2)} (goal ≤ 1.2; CPU time ${fmt(r.batched_vs_floor_cpu_20k, 2)}), ` +
        `batched_vs_bare_20k ${fmt(r.batched_vs_bare_20k, 2)} (old goal ≤ 1.5, against (d) without the tower); ` +
        `user tower ${r.user_tower_20k ?? "-"} (serve.tower), alone ${fmt(r.tower_vs_eager_20k, 2)}× the eager module's time per query; load ${r.loadavg_1m_end.toFixed(1)} at the end`,
      columns: ["path", "catalogue", "p50 ms/query", "p99 ms/query", "p50 CPU ms/query", "batched ms (batch)", "batched queries/s", "note"],
      rows,
    },
    {
      title: "paper Table 5 (one H100, LLaVA-OneVision-7B, MicroLens-100K ≈ 19.7k items)",
      columns: ["path", "ms/query"],
      rows: [
        ["direct VLLM ranking", "5,510"],
        ["LinkedOut online = MoE fusion + ranking", "5.964 = 5.1 + 0.846"],
      ],
    },
  ];
  if (r.load) {
    const l = r.load;
    tables.push({
      title: `serve — loopback HTTP load test (${fmt(r.rows.find((x) => x.path === "c")?.catalogue, 0)} items, one worker, micro-batching)`,
      columns: ["clients", "requests", "errors", "p50 ms", "p99 ms", "requests/s", "mean batch", "Node heap after GC, MB per quarter", "Node RSS MB", "worker RSS MB", "growth 2nd half MB"],
      rows: [[l.clients, l.requests, l.errors, fmt(l.p50_ms, 2), fmt(l.p99_ms, 2), fmt(l.requests_per_s, 0), fmt(l.mean_batch, 1),
        l.node_heap_mb.map((v) => fmt(v, 1)).join(" → "), l.rss_mb.node.map((v) => fmt(v, 0)).join(" → "),
        l.rss_mb.worker.map((v) => fmt(v, 0)).join(" → "), fmt(l.memory_growth_mb, 1)]],
    });
  }
  return { name: "serve", tables, json: r as unknown as Record<string, unknown> };
}
