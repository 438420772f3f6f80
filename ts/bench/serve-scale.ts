// `lo-exp bench serve --items N`: serving at catalogue scale (docs/serving.md, "Catalogues in the millions").
// Worker op `bench_serve_scale` (py/linkedout/bench/serve_scale.py) builds the catalogue, the index, and
// measures recall@10 and per-query latency of `serve.index: ann` against exact search in one process on
// one thread. Then the real `lo-exp serve` (front + worker, index ann) serves that run to 8 keep-alive
// clients while another worker appends 10k items to the store: latency and errors during the add, the
// new items answerable right after, and the serving worker's RSS next to the dense matrix's bytes.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os, { tmpdir } from "node:os";
import path from "node:path";
import { startWorker } from "../worker/index.js";
import { serveDefaults } from "../serve/config.js";
import { startRankingService } from "../serve/server.js";
import { configDefaults } from "../config/index.js";
import type { BenchReport, BenchTable } from "./report.js";

const HISTORY = configDefaults().recommender.ranker.max_history;

interface ScaleOpResult {
  items: number;
  queries: number;
  k: number;
  d_z: number;
  threads: number;
  engine: string;
  nlist: number;
  nprobe: number;
  recall_at_10: number;
  ann_p50_ms: number;
  ann_p99_ms: number;
  ann_p50_cpu_ms: number;
  /** the same queries, each right after, through the eager user tower module (serve.tower eager) */
  ann_eager_tower_p50_ms: number;
  exact_p50_ms: number;
  exact_p99_ms: number;
  exact_timed: number;
  index_build_s: number;
  /** the index's bytes from its layout (n·(4·d_z + 8) + centroids), MB */
  index_mb: number;
  dense_matrix_mb: number;
  run_dir: string;
  loadavg_1m_end: number;
}

export interface DuringAddResult {
  clients: number;
  added: number;
  add_seconds: number;
  requests: number;
  errors: number;
  p50_ms: number;
  p99_ms: number;
  /** requests whose history holds only added items, sent after the add finished (each must be answered) */
  new_item_requests: number;
  new_item_errors: number;
  /** from the add's end to the first answer of a history of added items */
  new_items_answerable_after_ms: number;
  worker_rss_mb_before: number;
  worker_rss_mb_after: number;
  index: unknown;
}

export interface ServeScaleResult {
  bench: "serve-scale";
  items: number;
  scale: ScaleOpResult;
  during_add: DuringAddResult | null;
  /** the headline figures keyed by catalogue size, e.g. recall_at_10_1m */
  figures: Record<string, number>;
  loadavg_1m: number;
  date: string;
}

function rssMb(pid: number): number {
  const kb = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return kb ? Number(kb[1]) / 1024 : NaN;
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((q / 100) * sorted.length) - 1))]!;
}

/** The bench's item ids (py/linkedout/bench/serve_scale.py item_id). */
const itemId = (row: number): string => `i${String(row).padStart(8, "0")}`;

/** "1m", "200k": the suffix of the JSON figures. */
export function sizeSuffix(n: number): string {
  return n >= 1_000_000 && n % 1_000_000 === 0 ? `${n / 1_000_000}m` : n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n);
}

async function duringAdd(runDir: string, items: number, clients: number, addCount: number, threads: number,
                         log?: (line: string) => void): Promise<DuringAddResult> {
  const svc = await startRankingService({ runDir, overrides: { port: 0, threads, index: "ann", refresh_s: 0.2 }, onEvent: (l) => log?.(`serve: ${l}`) });
  try {
    let seed = 12345;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const body = (ids: (i: number) => string) => JSON.stringify({ history: Array.from({ length: HISTORY }, (_, i) => ids(i)), k: 10 });
    const ask = async (text: string): Promise<boolean> => {
      try {
        const res = await fetch(`${svc.url}/recommend`, { method: "POST", body: text, headers: { "content-type": "application/json" } });
        const json = (await res.json()) as { items?: unknown[] };
        return res.status === 200 && Array.isArray(json.items) && json.items.length === 10;
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 50; i++) await ask(body(() => itemId(Math.floor(rand() * items)))); // warm-up
    const rssBefore = rssMb(svc.backend.workerPid);
    const adder = await startWorker({ device: "cpu", threads: 1, startTimeoutS: 300 });
    const latencies: number[] = [];
    let errors = 0;
    let addDone = false;
    let addSeconds = NaN;
    const add = adder
      .call<"bench_add_items", { added: number; seconds: number }>("bench_add_items", { store_dir: path.join(runDir, "embeddings"), count: addCount, batches: 10 })
      .then((r) => { addSeconds = r.result.seconds; return r.result; })
      .finally(() => { addDone = true; });
    log?.(`during add: ${clients} clients query while ${addCount} items are appended`);
    const client = async () => {
      while (!addDone) {
        const t0 = performance.now();
        if (!(await ask(body(() => itemId(Math.floor(rand() * items)))))) errors += 1;
        latencies.push(performance.now() - t0);
      }
    };
    await Promise.all([...Array.from({ length: clients }, client), add.catch(() => undefined)]);
    const added = await add;
    await adder.close();
    // the added items, asked for right away: histories of added items only (a 422 while unknown)
    const doneAt = performance.now();
    let firstOk = NaN;
    let newRequests = 0;
    let newErrors = 0;
    while (performance.now() - doneAt < 30_000) {
      newRequests += 1;
      const ok = await ask(body(() => itemId(items + Math.floor(rand() * addCount))));
      if (ok) {
        firstOk = performance.now() - doneAt;
        break;
      }
      newErrors += 1;
      await new Promise((r) => setTimeout(r, 20));
    }
    for (let i = 0; i < 20; i++) {
      newRequests += 1;
      if (!(await ask(body(() => itemId(items + Math.floor(rand() * addCount)))))) newErrors += 1;
    }
    const sorted = [...latencies].sort((a, b) => a - b);
    return {
      clients,
      added: added.added,
      add_seconds: addSeconds,
      requests: latencies.length,
      errors,
      p50_ms: percentile(sorted, 50),
      p99_ms: percentile(sorted, 99),
      new_item_requests: newRequests,
      new_item_errors: newErrors,
      new_items_answerable_after_ms: firstOk,
      worker_rss_mb_before: rssBefore,
      worker_rss_mb_after: rssMb(svc.backend.workerPid),
      index: svc.backend.info.index ?? null,
    };
  } finally {
    await svc.close();
  }
}

export async function benchServeScale(opts: { items: number; queries?: number; addItems?: number; clients?: number; threads?: number;
  log?: (line: string) => void }): Promise<ServeScaleResult> {
  const threads = opts.threads ?? 1;
  const loadavg = os.loadavg()[0]!;
  const work = mkdtempSync(path.join(tmpdir(), "lo-bench-serve-scale-"));
  try {
    const worker = await startWorker({ device: "cpu", threads, startTimeoutS: 300 });
    let scale: ScaleOpResult;
    try {
      const r = await worker.call<"bench_serve_scale", ScaleOpResult>("bench_serve_scale", {
        items: opts.items, queries: opts.queries ?? 1000, work_dir: work, ann: serveDefaults().ann,
      }, { onProgress: (p) => { if (p.message) opts.log?.(p.message); } });
      scale = r.result;
    } finally {
      await worker.close();
    }
    const addCount = opts.addItems ?? 10_000;
    const add = addCount > 0 ? await duringAdd(scale.run_dir, opts.items, opts.clients ?? 8, addCount, threads, opts.log) : null;
    const s = sizeSuffix(opts.items);
    const figures: Record<string, number> = {
      [`recall_at_10_${s}`]: scale.recall_at_10,
      [`p50_ms_${s}`]: scale.ann_p50_ms,
      [`p99_ms_${s}`]: scale.ann_p99_ms,
      [`p50_cpu_ms_${s}`]: scale.ann_p50_cpu_ms,
      [`p50_ms_${s}_eager_tower`]: scale.ann_eager_tower_p50_ms,
      [`exact_p50_ms_${s}`]: scale.exact_p50_ms,
      [`exact_p99_ms_${s}`]: scale.exact_p99_ms,
      [`index_build_s_${s}`]: scale.index_build_s,
      [`index_mb_${s}`]: scale.index_mb,
      [`dense_matrix_mb_${s}`]: scale.dense_matrix_mb,
    };
    if (add) {
      figures[`p99_ms_${s}_during_add`] = add.p99_ms;
      figures.errors_during_add = add.errors + add.new_item_errors;
      figures[`worker_rss_mb_${s}`] = add.worker_rss_mb_after;
    }
    return { bench: "serve-scale", items: opts.items, scale, during_add: add, figures, loadavg_1m: loadavg, date: new Date().toISOString() };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const fmt = (v: number | undefined | null, digits = 3): string => (v === undefined || v === null || Number.isNaN(v) ? "-" : v.toFixed(digits));

export async function runServeScaleBench(o: { items: number; quick?: boolean; log?: (line: string) => void }): Promise<BenchReport> {
  const r = await benchServeScale({ items: o.items, log: o.log, ...(o.quick ? { queries: 200, addItems: 1000 } : {}) });
  return serveScaleReport(r);
}

export function serveScaleReport(r: ServeScaleResult): BenchReport {
  const x = r.scale;
  const n = x.items.toLocaleString("en-US");
  const tables: BenchTable[] = [
    {
      title: `serve at ${n} items — ${x.engine} (nprobe ${x.nprobe} of ${x.nlist} lists) vs exact, ${x.threads} thread(s), ` +
        `${x.queries} queries from topic histories, k ${x.k}; load average ${r.loadavg_1m.toFixed(1)} at start, ${x.loadavg_1m_end.toFixed(1)} after the queries`,
      columns: ["path", "recall@10", "p50 ms/query", "p99 ms/query", "p50 CPU ms", "build s", "memory MB", "queries timed"],
      rows: [
        ["exact: u·Zᵀ + top-K (RankingService)", "1", fmt(x.exact_p50_ms), fmt(x.exact_p99_ms), "-", "-", `${fmt(x.dense_matrix_mb, 0)} (dense z)`, x.exact_timed],
        ["ann: index + exact re-score + delta + masking (AnnRankingService)", fmt(x.recall_at_10, 4), fmt(x.ann_p50_ms), fmt(x.ann_p99_ms), fmt(x.ann_p50_cpu_ms),
          fmt(x.index_build_s, 1), `${fmt(x.index_mb, 0)} (index) + ${fmt(x.dense_matrix_mb, 0)} (z)`, x.queries],
        ["ann, user tower eager (serve.tower eager; each query right after the row above)", "same answers", fmt(x.ann_eager_tower_p50_ms), "-", "-", "-", "-", x.queries],
      ],
    },
  ];
  const a = r.during_add;
  if (a) {
    tables.push({
      title: `lo-exp serve (index ann) while ${a.added} items are added in 10 EmbeddingStore.add calls (${fmt(a.add_seconds, 1)} s), ${a.clients} keep-alive clients`,
      columns: ["requests", "errors", "p50 ms", "p99 ms", "new-item requests (errors)", "new items answered after ms", "worker RSS MB before → after"],
      rows: [[a.requests, a.errors, fmt(a.p50_ms, 2), fmt(a.p99_ms, 2), `${a.new_item_requests} (${a.new_item_errors})`, fmt(a.new_items_answerable_after_ms, 0),
        `${fmt(a.worker_rss_mb_before, 0)} → ${fmt(a.worker_rss_mb_after, 0)}`]],
    });
  }
  return { name: "serve-scale", tables, json: { ...r, ...r.figures } };
}
