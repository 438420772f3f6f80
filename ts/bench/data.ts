// `lo-exp bench data`: how the dataset code scales. (1) The official protocol at MicroLens-100K size
// (100,000 users, 19,738 items, 5–15 interactions each, random): load, split, write, read back,
// popularity ranking and metrics. (2) Synthetic video rendering throughput through the worker op.
// Measured, never asserted in tests.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { computeMetrics } from "../metrics/metrics.js";
import { startWorker } from "../worker/index.js";
import { popularityRanks } from "../metrics/popularity.js";
import { loadMicroLens } from "../data/microlens.js";
import { Rng } from "../data/prng.js";
import { officialSplit, readSplit, writeSplit } from "../data/split.js";
import { synthesizeDataset, type RenderWorker, type SynthPreset } from "../data/synth.js";

/** Same shape as ts/bench/report.ts BenchReport. */
export interface DataBenchReport {
  name: string;
  tables: { title: string; columns: string[]; rows: (string | number)[][] }[];
  json: Record<string, unknown>;
}

export interface DataBenchOptions {
  /** users in the protocol benchmark (default 100,000 = MicroLens-100K) */
  users?: number;
  /** items in the protocol benchmark (default 19,738) */
  items?: number;
  /** synthetic preset rendered (default "10k"); null skips rendering */
  renderPreset?: SynthPreset | null;
  /** render calls in flight (the pool size) */
  parallel?: number;
  /** a worker (or pool) for rendering; null skips rendering */
  worker?: RenderWorker | null;
  log?: (line: string) => void;
}

function timed<T>(fn: () => T): { value: T; ms: number } {
  const t0 = performance.now();
  const value = fn();
  return { value, ms: performance.now() - t0 };
}

/** Run both parts; temp files are removed afterwards. */
export async function runDataBench(opts: DataBenchOptions = {}): Promise<DataBenchReport> {
  const users = opts.users ?? 100_000;
  const items = opts.items ?? 19_738;
  const log = opts.log ?? (() => undefined);
  const root = mkdtempSync(join(tmpdir(), "lo-bench-data-"));
  try {
    // (1) protocol at scale
    const rng = new Rng(1);
    const lines = ["user,item,timestamp"];
    for (let u = 1; u <= users; u++) {
      const n = 5 + rng.int(11);
      let t = 1_600_000_000_000 + rng.int(1e9);
      for (let j = 0; j < n; j++) lines.push(`${u},${1 + rng.int(items)},${(t += 1 + rng.int(1e6))}`);
    }
    const dir = join(root, "ml");
    const splitDir = join(dir, "split");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "MicroLens-bench_pairs.csv"), `${lines.join("\n")}\n`);
    const rows = lines.length - 1;
    log(`protocol: ${users} users, ${rows} interactions`);
    const rss0 = process.memoryUsage().rss;
    const load = timed(() => loadMicroLens(dir, { onMissingVideo: "keep" }));
    const split = timed(() => officialSplit(load.value.interactions));
    const write = timed(() => writeSplit(splitDir, split.value));
    const read = timed(() => readSplit(splitDir));
    const pop = timed(() => popularityRanks(splitDir));
    const metrics = timed(() => computeMetrics(pop.value.path, join(splitDir, "items.arrow")));
    const rssMb = (process.memoryUsage().rss - rss0) / 2 ** 20;
    const stages: [string, number, number][] = [
      ["load pairs csv", load.ms, rows],
      ["official split", split.ms, rows],
      ["write 4 Arrow files", write.ms, users],
      ["read split back", read.ms, users],
      ["popularity ranks (valid+test)", pop.ms, 2 * users],
      ["metrics", metrics.ms, 2 * users],
    ];
    const protocolRows = stages.map(([stage, ms, n]) => [stage, n, Math.round(ms), Math.round(n / (ms / 1000))]);

    // (2) rendering
    const renderRows: (string | number)[][] = [];
    let render: Record<string, unknown> | null = null;
    if (opts.worker && opts.renderPreset !== null) {
      const preset = opts.renderPreset ?? "10k";
      log(`rendering the ${preset} synthetic preset`);
      const t0 = performance.now();
      const r = await synthesizeDataset({ out: join(root, "synth"), preset, parallel: opts.parallel ?? 1 }, opts.worker);
      const s = (performance.now() - t0) / 1000;
      const v = r.videos!;
      render = { preset, items: r.counts.items, seconds: s, videos_per_s: r.counts.items / s, mb: v.bytes / 2 ** 20, parallel: opts.parallel ?? 1 };
      renderRows.push([preset, r.counts.items, opts.parallel ?? 1, s.toFixed(1), (r.counts.items / s).toFixed(0), (v.bytes / 2 ** 20).toFixed(1)]);
    }
    const tables: DataBenchReport["tables"] = [
      { title: `Official protocol at ${users.toLocaleString("en-US")} users / ${rows.toLocaleString("en-US")} interactions (RSS +${rssMb.toFixed(0)} MiB)`, columns: ["stage", "rows", "ms", "rows/s"], rows: protocolRows },
    ];
    if (renderRows.length) tables.push({ title: "Synthetic dataset incl. video rendering (64×64, mpeg4)", columns: ["preset", "videos", "workers", "s", "videos/s", "MiB"], rows: renderRows });
    return {
      name: "data",
      tables,
      json: {
        protocol: { users, items, interactions: rows, rss_delta_mib: rssMb, stages: Object.fromEntries(stages.map(([k, ms]) => [k, ms])) },
        render,
      },
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** The `lo-exp bench data` entry: starts one CPU worker for rendering. `quick`: 10,000 users and the tiny preset. */
export async function runDataBenchEntry(o: { quick: boolean; log: (line: string) => void }): Promise<DataBenchReport> {
  const worker = await startWorker({ device: "cpu", threads: 1 });
  try {
    return await runDataBench({ worker, log: o.log, ...(o.quick ? { users: 10_000, renderPreset: "tiny" as const } : {}) });
  } finally {
    await worker.close();
  }
}
