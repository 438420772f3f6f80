// `lo-exp compare RESULTS_A RESULTS_B`: two runs' results folders compared on the users both
// evaluated — per split, slice, metric and K: A, B, A − B, its paired 95 % bootstrap interval and the
// sign test's p-value (ts/metrics/stats.ts; docs/results.md, "Statistics"). A folder with seed-<s>/
// subfolders (`lo-exp run … --seeds`) counts as one result over those seeds.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DataError } from "../data/errors.js";
import {
  pairedComparison,
  readCatalogueCounts,
  readRanks,
  userVectors,
  type BootstrapOptions,
  type MetricsResult,
  type RankRow,
  type Slice,
  type UserVectors,
} from "../metrics/index.js";

export interface CompareRow {
  split: string;
  slice: string;
  metric: string;
  k: number;
  a: number;
  b: number;
  /** a − b */
  difference: number;
  ci_low: number;
  ci_high: number;
  p_value: number;
  /** users both evaluated in this slice */
  users: number;
  /** users better under A / under B (seed-averaged) */
  a_better: number;
  b_better: number;
}

/** One side of a comparison: a results folder and its seed runs. */
export interface ComparedResult {
  dir: string;
  /** the seed-<s> folders' seeds, or [] for a single run */
  seeds: number[];
  /** the split stage's cache key */
  splitKey: string | null;
}

export interface CompareResult {
  a: ComparedResult;
  b: ComparedResult;
  rows: CompareRow[];
}

export interface CompareOptions {
  /** slices to report (default overall, cold, longtail) */
  slices?: readonly Slice[];
  bootstrap?: BootstrapOptions;
}

interface RunFiles {
  dir: string;
  ranks: RankRow[];
  items: string;
  splitKey: string | null;
  metrics: Pick<MetricsResult, "ks" | "coldMax" | "longTailShare"> | null;
}

/** A run folder's ranks, the split's items.arrow and the slice definitions; one clear line when one is missing. */
function runFiles(dir: string): RunFiles {
  const ranksPath = join(dir, "ranks.arrow");
  if (!existsSync(ranksPath))
    throw new DataError(`${dir}: no ranks.arrow (give a run's results folder, results/<run>/, not an experiment table's)`);
  const stagesPath = join(dir, "stages.json");
  if (!existsSync(stagesPath)) throw new DataError(`${dir}: no stages.json (the run's record of its split); rerun it with lo-exp run`);
  const stages = JSON.parse(readFileSync(stagesPath, "utf8")) as Record<string, { key?: string; dir?: string } | undefined>;
  const split = stages.split;
  const items = split?.dir ? join(split.dir, "items.arrow") : "";
  if (!items || !existsSync(items))
    throw new DataError(`${dir}: the split it was evaluated on (${items || "stages.json has no split"}) is no longer in the cache; rerun the run to restore it`);
  const metricsPath = join(dir, "metrics.json");
  const metrics = existsSync(metricsPath) ? (JSON.parse(readFileSync(metricsPath, "utf8")) as MetricsResult) : null;
  return { dir, ranks: readRanks(ranksPath), items, splitKey: split?.key ?? null, metrics };
}

/** The seed runs of a results folder: its seed-<s>/ subfolders, or the folder itself. */
function seedFolders(dir: string): { seeds: number[]; dirs: string[] } {
  if (!existsSync(dir)) throw new DataError(`${dir}: no such results folder`);
  const seeds = readdirSync(dir)
    .map((f) => /^seed-(\d+)$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null && existsSync(join(dir, m[0], "ranks.arrow")))
    .map((m) => Number(m[1]))
    .sort((x, y) => x - y);
  return seeds.length ? { seeds, dirs: seeds.map((s) => join(dir, `seed-${s}`)) } : { seeds: [], dirs: [dir] };
}

const targetsOf = (ranks: readonly RankRow[]) => new Map(ranks.map((r) => [`${r.split}\u0000${r.user}`, r.target]));

/** Compare two results folders (see the file header). Refuses, in one line, results of different splits. */
export function compareResults(dirA: string, dirB: string, opts: CompareOptions = {}): CompareResult {
  const sideA = seedFolders(dirA);
  const sideB = seedFolders(dirB);
  const runsA = sideA.dirs.map(runFiles);
  const runsB = sideB.dirs.map(runFiles);
  const first = runsA[0]!;
  // the users must be the same: the same split (key), and the same target for every user both ranked
  for (const r of [...runsA, ...runsB]) {
    const other = r.splitKey !== first.splitKey;
    if (other)
      throw new DataError(
        `cannot compare ${dirA} with ${dirB}: they were evaluated on different splits (split ${first.splitKey ?? "?"} in ${first.dir}, ${r.splitKey ?? "?"} in ${r.dir}); a paired comparison needs the same users`,
      );
  }
  const targets = targetsOf(first.ranks);
  for (const r of [...runsA, ...runsB])
    for (const row of r.ranks) {
      const t = targets.get(`${row.split}\u0000${row.user}`);
      if (t !== undefined && t !== row.target)
        throw new DataError(
          `cannot compare ${dirA} with ${dirB}: user '${row.user}' has target '${t}' in ${first.dir} but '${row.target}' in ${r.dir}; a paired comparison needs the same split`,
        );
    }
  const def = first.metrics;
  const evalOpts = { ks: def?.ks ?? [10, 20], coldMax: def?.coldMax ?? 5, longTailShare: def?.longTailShare ?? 0.8 };
  const items = readCatalogueCounts(first.items); // same split key → same catalogue
  const vectors = (runs: RunFiles[]) =>
    runs.map((r) => new Map(userVectors(r.ranks, items, evalOpts).map((v) => [`${v.split}\u0000${v.slice}`, v] as [string, UserVectors])));
  const va = vectors(runsA);
  const vb = vectors(runsB);
  const slices = opts.slices ?? ["overall", "cold", "longtail"];
  const pairSeeds = sideA.seeds.length > 0 && sideA.seeds.length === sideB.seeds.length && sideA.seeds.every((s, i) => s === sideB.seeds[i]);
  const rows: CompareRow[] = [];
  for (const split of ["valid", "test"] as const)
    for (const slice of slices) {
      const key = `${split}\u0000${slice}`;
      // users every seed of both sides evaluated in this slice
      const all = [...va, ...vb].map((m) => m.get(key));
      if (all.some((v) => v === undefined)) continue;
      const sets = all.map((v) => new Set(v!.users));
      const users = all[0]!.users.filter((u) => sets.every((s) => s.has(u)));
      if (users.length === 0) continue;
      for (const k of evalOpts.ks)
        for (const metric of ["hr", "ndcg"]) {
          const column = `${metric}@${k}`;
          const mat = (side: Map<string, UserVectors>[]) =>
            side.map((m) => {
              const v = m.get(key)!;
              const at = new Map(v.users.map((u, i) => [u, i]));
              const col = v.values.get(column)!;
              return Float64Array.from(users, (u) => col[at.get(u)!]!);
            });
          const c = pairedComparison(mat(va), mat(vb), pairSeeds, opts.bootstrap);
          rows.push({
            split,
            slice,
            metric,
            k,
            a: c.a,
            b: c.b,
            difference: c.difference,
            ci_low: c.ci.low,
            ci_high: c.ci.high,
            p_value: c.sign.p,
            users: users.length,
            a_better: c.sign.aBetter,
            b_better: c.sign.bBetter,
          });
        }
    }
  return {
    a: { dir: dirA, seeds: sideA.seeds, splitKey: first.splitKey },
    b: { dir: dirB, seeds: sideB.seeds, splitKey: runsB[0]!.splitKey },
    rows,
  };
}

/** The comparison as a Markdown table (the human output of `lo-exp compare`). */
export function formatComparison(res: CompareResult): string {
  const seeds = (s: ComparedResult) => (s.seeds.length ? ` (seeds ${s.seeds.join(", ")})` : "");
  const signed = (v: number) => `${v >= 0 ? "+" : "−"}${Math.abs(v).toFixed(4)}`;
  const lines = [
    `A = ${res.a.dir}${seeds(res.a)}`,
    `B = ${res.b.dir}${seeds(res.b)}`,
    "A − B on the users both evaluated; 95 % paired bootstrap interval; p: exact sign test over users (docs/results.md, \"Statistics\").",
    "",
    "| split | slice | users | metric | A | B | A − B | 95 % interval | p | users A/B better |",
    "|---|---|---:|---|---:|---:|---:|---|---:|---:|",
  ];
  for (const r of res.rows) {
    const sig = r.ci_low > 0 || r.ci_high < 0;
    const diff = sig ? `**${signed(r.difference)}**` : signed(r.difference);
    lines.push(
      `| ${r.split} | ${r.slice} | ${r.users} | ${r.metric === "hr" ? "HR" : "NDCG"}@${r.k} | ${r.a.toFixed(4)} | ${r.b.toFixed(4)} | ${diff} | [${signed(r.ci_low)}, ${signed(r.ci_high)}] | ${r.p_value < 0.001 ? r.p_value.toExponential(1) : r.p_value.toFixed(3)} | ${r.a_better}/${r.b_better} |`,
    );
  }
  return lines.join("\n");
}
