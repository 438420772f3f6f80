// Uncertainty of HR@K / NDCG@K over test users and training seeds (docs/results.md, "Statistics").
//
// A run's metric is a mean over users of a per-user value (hit: 0/1; NDCG: 1/log2(rank+1) or 0). With
// S training seeds a row is an S × U matrix X (seed × user; the same users in every seed, the split
// does not depend on the seed). Its value is the grand mean.
//
//   interval   two-level percentile bootstrap (Efron & Tibshirani 1993, ch. 13; seeds and users
//              resampled together as in Bouthillier et al. 2021, "Accounting for variance in machine
//              learning benchmarks"): each replicate draws S seeds and U users with replacement and
//              takes the mean of X over them. One seed: the ordinary bootstrap over users.
//   difference A − B of two rows on the same users: the same bootstrap on the per-user differences,
//              with one draw of users shared by A and B (paired) and, when both ran the same seeds,
//              one draw of seeds shared too (seed s of A paired with seed s of B).
//   p-value    exact two-sided sign test (binomial, p = ½) on the users whose seed-averaged values
//              differ; for HR with one seed this is the exact McNemar test on discordant hits.
// Replicates come from the seeded PRNG of ts/data/prng.ts: the same inputs give the same interval.
import { Rng } from "../data/prng.js";
import { ndcgAt, sliceTargets, type CatalogueCounts, type MetricsOptions, type Slice } from "./metrics.js";
import type { EvalSplit, RankRow } from "./ranks.js";

export interface BootstrapOptions {
  /** replicates (default 2000) */
  resamples?: number;
  /** interval coverage (default 0.95) */
  confidence?: number;
  /** PRNG seed of the replicates (default 0) */
  seed?: number;
}

export interface Interval {
  low: number;
  high: number;
}

/** Per-user values of one split × slice: users sorted by id; `values` maps "hr@10" etc. to a vector aligned with `users`. */
export interface UserVectors {
  split: EvalSplit;
  slice: Slice;
  users: string[];
  values: Map<string, Float64Array>;
}

export const columnName = (metric: string, k: number): string => `${metric}@${k}`;

/** Per-user hit and NDCG vectors of every split × slice present in `ranks` (slices as in metricsFromRanks). */
export function userVectors(ranks: readonly RankRow[], items: readonly CatalogueCounts[], opts: MetricsOptions = {}): UserVectors[] {
  const ks = opts.ks ?? [10, 20];
  const out: UserVectors[] = [];
  for (const split of ["valid", "test"] as const) {
    const mine = ranks.filter((r) => r.split === split);
    if (mine.length === 0) continue;
    for (const [slice, rows] of sliceTargets(mine, items, opts)) {
      const sorted = [...rows].sort((a, b) => (a.user < b.user ? -1 : a.user > b.user ? 1 : 0));
      const values = new Map<string, Float64Array>();
      for (const k of ks) {
        values.set(columnName("hr", k), Float64Array.from(sorted, (r) => (r.rank <= k ? 1 : 0)));
        values.set(columnName("ndcg", k), Float64Array.from(sorted, (r) => ndcgAt(r.rank, k)));
      }
      out.push({ split, slice, users: sorted.map((r) => r.user), values });
    }
  }
  return out;
}

const mean = (x: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]!;
  return x.length ? s / x.length : NaN;
};

/** Sample standard deviation (n − 1); null below two values. */
export function sampleSd(x: readonly number[]): number | null {
  if (x.length < 2) return null;
  const m = mean(x);
  return Math.sqrt(x.reduce((s, v) => s + (v - m) ** 2, 0) / (x.length - 1));
}

/** Quantile with linear interpolation between order statistics (numpy's default) of a sorted array. */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

function checkMatrix(x: readonly Float64Array[], what: string): number {
  if (x.length === 0) throw new RangeError(`${what}: no seeds`);
  const u = x[0]!.length;
  if (u === 0) throw new RangeError(`${what}: no users`);
  for (const row of x) if (row.length !== u) throw new RangeError(`${what}: seeds have different numbers of users`);
  return u;
}

/**
 * Bootstrap replicates of mean(A) − mean(B) (B omitted: of mean(A)) with users paired and, when
 * `pairSeeds`, seeds paired. Each replicate: seed weights from S draws with replacement (per side
 * unless paired), U user draws with replacement shared by both sides.
 */
function replicates(a: readonly Float64Array[], b: readonly Float64Array[] | null, pairSeeds: boolean, opts: BootstrapOptions): Float64Array {
  const users = checkMatrix(a, "A");
  if (b && checkMatrix(b, "B") !== users) throw new RangeError("A and B have different numbers of users");
  if (b && pairSeeds && a.length !== b.length) throw new RangeError("paired seeds need the same number of seeds on both sides");
  const n = opts.resamples ?? 2000;
  const rng = new Rng(opts.seed ?? 0);
  const out = new Float64Array(n);
  const wa = new Float64Array(a.length);
  const wb = new Float64Array(b?.length ?? 0);
  // per-user value under this replicate's seed weights, then the user draw
  const perUser = new Float64Array(users);
  for (let r = 0; r < n; r++) {
    wa.fill(0);
    for (let i = 0; i < a.length; i++) wa[rng.int(a.length)]! += 1 / a.length;
    if (b) {
      if (pairSeeds) wb.set(wa);
      else {
        wb.fill(0);
        for (let i = 0; i < b.length; i++) wb[rng.int(b.length)]! += 1 / b.length;
      }
    }
    perUser.fill(0);
    if (b && pairSeeds) {
      // difference per seed first: identical rows give exactly 0
      for (let s = 0; s < a.length; s++) {
        const w = wa[s]!;
        if (w === 0) continue;
        const ra = a[s]!;
        const rb = b[s]!;
        for (let u = 0; u < users; u++) perUser[u]! += w * (ra[u]! - rb[u]!);
      }
    } else {
      for (let s = 0; s < a.length; s++) {
        const w = wa[s]!;
        if (w === 0) continue;
        const row = a[s]!;
        for (let u = 0; u < users; u++) perUser[u]! += w * row[u]!;
      }
    }
    if (b && !pairSeeds)
      for (let s = 0; s < b.length; s++) {
        const w = wb[s]!;
        if (w === 0) continue;
        const row = b[s]!;
        for (let u = 0; u < users; u++) perUser[u]! -= w * row[u]!;
      }
    let sum = 0;
    for (let i = 0; i < users; i++) sum += perUser[rng.int(users)]!;
    out[r] = sum / users;
  }
  return out.sort();
}

function percentileInterval(sortedReplicates: Float64Array, confidence: number): Interval {
  const alpha = 1 - confidence;
  return { low: quantileSorted(sortedReplicates, alpha / 2), high: quantileSorted(sortedReplicates, 1 - alpha / 2) };
}

export interface RowStats {
  /** mean over seeds and users */
  mean: number;
  /** per-seed means, in seed order */
  perSeed: number[];
  /** standard deviation of the per-seed means (null with one seed) */
  sd: number | null;
  ci: Interval;
}

/** A row's value, its spread over seeds and its two-level bootstrap interval. `x`: seed × user. */
export function rowStats(x: readonly Float64Array[], opts: BootstrapOptions = {}): RowStats {
  checkMatrix(x, "row");
  const perSeed = x.map((r) => mean(r));
  return { mean: mean(perSeed), perSeed, sd: sampleSd(perSeed), ci: percentileInterval(replicates(x, null, false, opts), opts.confidence ?? 0.95) };
}

export interface SignTest {
  /** users whose (seed-averaged) value is higher in A / in B */
  aBetter: number;
  bBetter: number;
  /** exact two-sided binomial p-value (1 when no user differs) */
  p: number;
}

/** Two-sided exact binomial test of k successes in n trials with p = ½: min(1, 2·P(X ≤ min(k, n − k))). */
export function binomialTwoSidedHalf(k: number, n: number): number {
  if (!Number.isInteger(k) || !Number.isInteger(n) || k < 0 || k > n) throw new RangeError(`binomial test needs 0 ≤ k ≤ n integers, got k=${k}, n=${n}`);
  if (n === 0) return 1;
  const m = Math.min(k, n - k);
  // log P(X = i) = log C(n, i) − n log 2, summed in log space (n may be thousands)
  let logTerm = -n * Math.LN2;
  const logs: number[] = [logTerm];
  for (let i = 0; i < m; i++) {
    logTerm += Math.log((n - i) / (i + 1));
    logs.push(logTerm);
  }
  const top = Math.max(...logs);
  const tail = Math.exp(top) * logs.reduce((s, l) => s + Math.exp(l - top), 0);
  return Math.min(1, 2 * tail);
}

/** Sign test on paired per-user values (users with equal values carry no sign and are left out). */
export function signTest(a: ArrayLike<number>, b: ArrayLike<number>): SignTest {
  if (a.length !== b.length) throw new RangeError("sign test: A and B have different numbers of users");
  let aBetter = 0;
  let bBetter = 0;
  for (let i = 0; i < a.length; i++) {
    // a tolerance so seed averages that differ only by rounding count as ties
    const d = a[i]! - b[i]!;
    if (d > 1e-12) aBetter++;
    else if (d < -1e-12) bBetter++;
  }
  return { aBetter, bBetter, p: binomialTwoSidedHalf(aBetter, aBetter + bBetter) };
}

export interface PairedComparison {
  a: number;
  b: number;
  /** a − b */
  difference: number;
  ci: Interval;
  sign: SignTest;
  /** the interval excludes 0 */
  significant: boolean;
}

/** Per-user average over seeds. */
function seedAverage(x: readonly Float64Array[]): Float64Array {
  const out = new Float64Array(x[0]!.length);
  for (const row of x) for (let u = 0; u < out.length; u++) out[u]! += row[u]! / x.length;
  return out;
}

/**
 * A against B on the same users (columns aligned): the difference of means, its paired bootstrap
 * interval and the sign test. `pairSeeds`: row s of A and of B ran with the same seed.
 */
export function pairedComparison(a: readonly Float64Array[], b: readonly Float64Array[], pairSeeds: boolean, opts: BootstrapOptions = {}): PairedComparison {
  const ma = mean(a.map((r) => mean(r)));
  const mb = mean(b.map((r) => mean(r)));
  const ci = percentileInterval(replicates(a, b, pairSeeds, opts), opts.confidence ?? 0.95);
  return { a: ma, b: mb, difference: ma - mb, ci, sign: signTest(seedAverage(a), seedAverage(b)), significant: ci.low > 0 || ci.high < 0 };
}
