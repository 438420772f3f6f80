// HR@K and NDCG@K from per-user ranks (MicroLens Code/VideoRec/SASRec/utils/metrics.py), overall and
// on two slices of targets:
//   cold-start  the target has at most `coldMax` training interactions (train_count ≤ coldMax);
//   long-tail   the target is not a "head" item; the head is the smallest set of most popular items
//               whose train_counts sum to at least `longTailShare` of all training interactions
//               (items sorted by train_count descending, ties by catalogue index ascending).
// Rank ties are settled upstream, deterministically, by the ranker (docs/architecture.md, "Ranks"):
// rank = 1 + #{score > s_t} + #{score = s_t and catalogue index < target's}.
import { readIntColumn, readUtf8Column } from "../data/arrow-columns.js";
import { readArrowFile } from "../data/arrow-io.js";
import { DataError } from "../data/errors.js";
import { readRanks, type EvalSplit, type RankRow } from "./ranks.js";

export interface MetricsOptions {
  /** cut-offs (default [10, 20]) */
  ks?: number[];
  /** cold-start: train_count ≤ coldMax (default 5) */
  coldMax?: number;
  /** share of training interactions covered by the head items (default 0.8) */
  longTailShare?: number;
}

export type Slice = "overall" | "cold" | "longtail";

export interface MetricsRow {
  split: EvalSplit;
  slice: Slice;
  /** users in the slice */
  users: number;
  /** K → HR@K (null when the slice is empty) */
  hr: Record<number, number | null>;
  ndcg: Record<number, number | null>;
}

export interface MetricsResult {
  ks: number[];
  coldMax: number;
  longTailShare: number;
  catalogue: number;
  headItems: number;
  coldItems: number;
  rows: MetricsRow[];
}

export interface CatalogueCounts {
  item: string;
  train_count: number;
}

/** The head items (see the file header), as a set of ids. */
export function headItems(items: readonly CatalogueCounts[], share: number): Set<string> {
  const total = items.reduce((s, r) => s + r.train_count, 0);
  const order = items.map((r, i) => ({ ...r, i })).sort((a, b) => b.train_count - a.train_count || a.i - b.i);
  const head = new Set<string>();
  let covered = 0;
  for (const r of order) {
    if (covered >= share * total || r.train_count === 0) break;
    head.add(r.item);
    covered += r.train_count;
  }
  return head;
}

/** NDCG@K of one rank: 1/log2(rank+1) if rank ≤ K, else 0 (one relevant item, so IDCG = 1). */
export function ndcgAt(rank: number, k: number): number {
  return rank <= k ? 1 / Math.log2(rank + 1) : 0;
}

/** Metrics from rank rows and the catalogue (pure). `source` names the ranks in error messages. */
export function metricsFromRanks(ranks: readonly RankRow[], items: readonly CatalogueCounts[], opts: MetricsOptions = {}, source = "ranks"): MetricsResult {
  const ks = [...(opts.ks ?? [10, 20])].sort((a, b) => a - b);
  const coldMax = opts.coldMax ?? 5;
  const longTailShare = opts.longTailShare ?? 0.8;
  for (const k of ks) if (!Number.isInteger(k) || k < 1) throw new RangeError(`cut-off K must be a positive integer, got ${k}`);
  if (!(longTailShare > 0 && longTailShare <= 1)) throw new RangeError(`longTailShare must be in (0, 1], got ${longTailShare}`);
  const trainCount = new Map(items.map((r) => [r.item, r.train_count]));
  const head = headItems(items, longTailShare);
  const seen = new Set<string>();
  ranks.forEach((r, i) => {
    const key = `${r.split}\u0000${r.user}`;
    if (seen.has(key)) throw new DataError(`${source}: row ${i}: user '${r.user}' appears twice in split '${r.split}'`);
    seen.add(key);
    if (!trainCount.has(r.target)) throw new DataError(`${source}: row ${i}: target '${r.target}' is not in the catalogue`);
    if (r.rank > items.length) throw new DataError(`${source}: row ${i}: rank ${r.rank} exceeds the catalogue size ${items.length}`);
  });
  const rows: MetricsRow[] = [];
  for (const split of ["valid", "test"] as const) {
    const mine = ranks.filter((r) => r.split === split);
    if (mine.length === 0) continue;
    for (const [slice, rs] of sliceTargets(mine, items, opts)) {
      const hr: Record<number, number | null> = {};
      const ndcg: Record<number, number | null> = {};
      for (const k of ks) {
        hr[k] = rs.length ? rs.filter((r) => r.rank <= k).length / rs.length : null;
        ndcg[k] = rs.length ? rs.reduce((s, r) => s + ndcgAt(r.rank, k), 0) / rs.length : null;
      }
      rows.push({ split, slice, users: rs.length, hr, ndcg });
    }
  }
  return {
    ks,
    coldMax,
    longTailShare,
    catalogue: items.length,
    headItems: head.size,
    coldItems: items.filter((r) => r.train_count <= coldMax).length,
    rows,
  };
}

/** The rows of each slice (see the file header): overall, cold, longtail. */
export function sliceTargets(ranks: readonly RankRow[], items: readonly CatalogueCounts[], opts: MetricsOptions = {}): [Slice, RankRow[]][] {
  const coldMax = opts.coldMax ?? 5;
  const trainCount = new Map(items.map((r) => [r.item, r.train_count]));
  const head = headItems(items, opts.longTailShare ?? 0.8);
  return [
    ["overall", [...ranks]],
    ["cold", ranks.filter((r) => (trainCount.get(r.target) ?? 0) <= coldMax)],
    ["longtail", ranks.filter((r) => !head.has(r.target))],
  ];
}

/** Read the catalogue's train counts from items.arrow. */
export function readCatalogueCounts(itemsPath: string): CatalogueCounts[] {
  const t = readArrowFile(itemsPath, ["item", "train_count"]);
  let ids: string[], counts: number[];
  try {
    ids = readUtf8Column(t, "item");
    counts = readIntColumn(t, "train_count");
  } catch (err) {
    throw new DataError(`${itemsPath}: ${(err as Error).message}`);
  }
  return ids.map((item, i) => {
    const c = counts[i]!;
    if (!item) throw new DataError(`${itemsPath}: row ${i}: empty item id`);
    if (!Number.isInteger(c) || c < 0) throw new DataError(`${itemsPath}: row ${i}: bad train_count ${c}`);
    return { item, train_count: c };
  });
}

/** HR@K / NDCG@K overall, cold-start and long-tail, for each split present in `ranksPath`. */
export function computeMetrics(ranksPath: string, itemsPath: string, opts: MetricsOptions = {}): MetricsResult {
  return metricsFromRanks(readRanks(ranksPath), readCatalogueCounts(itemsPath), opts, ranksPath);
}

/** A Markdown table: one row per (split, slice), columns HR@K and NDCG@K per K. */
export function formatMetrics(m: MetricsResult, digits = 4): string {
  const head = ["split", "slice", "users", ...m.ks.flatMap((k) => [`HR@${k}`, `NDCG@${k}`])];
  const fmt = (v: number | null) => (v === null ? "–" : v.toFixed(digits));
  const body = m.rows.map((r) => [r.split, r.slice, String(r.users), ...m.ks.flatMap((k) => [fmt(r.hr[k] ?? null), fmt(r.ndcg[k] ?? null)])]);
  const widths = head.map((h, c) => Math.max(h.length, ...body.map((row) => row[c]!.length)));
  const line = (cells: string[]) => `| ${cells.map((x, c) => (c < 2 ? x.padEnd(widths[c]!) : x.padStart(widths[c]!))).join(" | ")} |`;
  const rule = `|${widths.map((w, c) => (c < 2 ? "-".repeat(w + 2) : `${"-".repeat(w + 1)}:`)).join("|")}|`;
  return [line(head), rule, ...body.map(line)].join("\n");
}

