// `lo-exp compare` (ts/schedule/compare.ts) on hand-built results folders: real ranks.arrow, items.arrow
// and stages.json files. The interval and p-value are checked against scipy on the same files.
import { expect } from "chai";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Int32, makeVector, Table } from "apache-arrow";
import { utf8Vector } from "../../ts/data/arrow-columns.js";
import { writeArrowFile } from "../../ts/data/index.js";
import { writeRanks, type RankRow } from "../../ts/metrics/index.js";
import { compareResults, type CompareRow } from "../../ts/schedule/compare.js";
import { findPython } from "../../ts/worker/python.js";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const ITEMS = Array.from({ length: 100 }, (_, i) => `i${String(i).padStart(3, "0")}`);
const USERS = 300;

/** A split folder with items.arrow (train counts: every 4th item cold). */
function writeSplit(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const counts = ITEMS.map((_, i) => (i % 4 === 0 ? 2 : 10 + (i % 13)));
  writeArrowFile(join(dir, "items.arrow"), new Table({ item: utf8Vector(ITEMS), train_count: makeVector({ type: new Int32(), data: Int32Array.from(counts) }) }));
  return dir;
}

/** A run's results folder: ranks.arrow (test users, rank from `rank(u)`) and stages.json naming the split. */
function writeRun(dir: string, splitDir: string, splitKey: string, rank: (u: number) => number, target = (u: number) => ITEMS[(u * 11) % 100]!): string {
  mkdirSync(dir, { recursive: true });
  const rows: RankRow[] = Array.from({ length: USERS }, (_, u) => ({ user: `u${String(u).padStart(3, "0")}`, split: "test", target: target(u), rank: rank(u), topk: [] }));
  writeRanks(join(dir, "ranks.arrow"), rows);
  writeFileSync(join(dir, "stages.json"), JSON.stringify({ split: { key: splitKey, dir: splitDir } }));
  return dir;
}

const row = (rows: readonly CompareRow[], slice: string, metric: string, k: number) => rows.find((r) => r.split === "test" && r.slice === slice && r.metric === metric && r.k === k)!;

describe("lo-exp compare: paired differences of two runs (ts/schedule/compare)", function () {
  this.timeout(120_000);
  let root: string;
  let split: string;
  // fixed, unrelated rank patterns: some users better under A, some under B
  const rankA = (u: number) => 1 + ((u * 37) % 40);
  const rankB = (u: number) => 1 + ((u * 53) % 36);
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "lo-compare-"));
    split = writeSplit(join(root, "split"));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it("gives the interval and p-value scipy computes from the same rank files", () => {
    const a = writeRun(join(root, "a"), split, "s1", rankA);
    const b = writeRun(join(root, "b"), split, "s1", rankB);
    const res = compareResults(a, b, { slices: ["overall"], bootstrap: { resamples: 10000 } });
    // independent computation: pyarrow reads the files, scipy tests (binomtest) and bootstraps (percentile)
    const script = `
import json, sys, numpy as np, pyarrow.feather as f
from scipy import stats
def per_user(p, k):
    t = f.read_table(p).to_pydict(); r = dict(zip(t["user"], t["rank"]))
    users = sorted(r); rank = np.array([r[u] for u in users])
    return np.where(rank <= k, 1.0, 0.0), np.where(rank <= k, 1 / np.log2(rank + 1), 0.0)
out = {}
for k in (10, 20):
    (ha, na), (hb, nb) = per_user(sys.argv[1], k), per_user(sys.argv[2], k)
    for name, x, y in (("hr", ha, hb), ("ndcg", na, nb)):
        d = x - y
        up, down = int((d > 0).sum()), int((d < 0).sum())
        ci = stats.bootstrap((d,), np.mean, method="percentile", n_resamples=20000, random_state=0).confidence_interval
        out[f"{name}@{k}"] = dict(a=x.mean(), b=y.mean(), difference=d.mean(), p=stats.binomtest(up, up + down, 0.5).pvalue, low=ci.low, high=ci.high, up=up, down=down)
print(json.dumps(out))
`;
    const py = spawnSync(findPython(), ["-c", script, join(a, "ranks.arrow"), join(b, "ranks.arrow")], { encoding: "utf8" });
    expect(py.status, py.stderr).to.equal(0);
    const ref = JSON.parse(py.stdout) as Record<string, { a: number; b: number; difference: number; p: number; low: number; high: number; up: number; down: number }>;
    for (const [metric, k] of [["hr", 10], ["ndcg", 10], ["hr", 20], ["ndcg", 20]] as const) {
      const ours = row(res.rows, "overall", metric, k);
      const want = ref[`${metric}@${k}`]!;
      expect(ours.a).to.be.closeTo(want.a, 1e-12);
      expect(ours.b).to.be.closeTo(want.b, 1e-12);
      expect(ours.difference).to.be.closeTo(want.difference, 1e-12);
      expect([ours.a_better, ours.b_better]).to.deep.equal([want.up, want.down]);
      expect(ours.p_value).to.be.closeTo(want.p, 1e-12); // exact test: same number
      // bootstrap: two independent Monte Carlo runs agree to within their resampling error
      expect(ours.ci_low, `${metric}@${k} low`).to.be.closeTo(want.low, 0.006);
      expect(ours.ci_high, `${metric}@${k} high`).to.be.closeTo(want.high, 0.006);
    }
    // the fixture is not degenerate: users move both ways and the interval has width
    const hr10 = row(res.rows, "overall", "hr", 10);
    expect(hr10.a_better).to.be.greaterThan(10);
    expect(hr10.b_better).to.be.greaterThan(10);
    expect(hr10.ci_high - hr10.ci_low).to.be.greaterThan(0.02);
  });

  it("identical runs: difference 0, interval [0, 0], p = 1 in every slice", () => {
    const a = writeRun(join(root, "a"), split, "s1", rankA);
    const b = writeRun(join(root, "b"), split, "s1", rankA);
    const res = compareResults(a, b);
    expect(new Set(res.rows.map((r) => r.slice))).to.deep.equal(new Set(["overall", "cold", "longtail"]));
    expect(row(res.rows, "cold", "hr", 10).users).to.equal(75); // targets (u·11 mod 100) that are multiples of 4
    for (const r of res.rows) expect([r.difference, r.ci_low, r.ci_high, r.p_value]).to.deep.equal([0, 0, 0, 1]);
  });

  it("finds a planted difference, and --slice limits the rows", () => {
    // B = A but 45 users who miss the top 10 under A hit it under B
    const planted = (u: number) => (rankA(u) > 10 && u % 4 === 1 ? 3 : rankA(u));
    const a = writeRun(join(root, "a"), split, "s1", rankA);
    const b = writeRun(join(root, "b"), split, "s1", planted);
    const moved = Array.from({ length: USERS }, (_, u) => u).filter((u) => rankA(u) > 10 && u % 4 === 1).length;
    const res = compareResults(a, b, { slices: ["overall"] });
    expect(new Set(res.rows.map((r) => r.slice))).to.deep.equal(new Set(["overall"]));
    const hr10 = row(res.rows, "overall", "hr", 10);
    expect(hr10.difference).to.be.closeTo(-moved / USERS, 1e-12);
    expect([hr10.a_better, hr10.b_better]).to.deep.equal([0, moved]);
    expect(hr10.ci_high).to.be.lessThan(0);
    expect(hr10.p_value).to.be.lessThan(1e-9);
  });

  it("pairs seed-<s> folders seed by seed", () => {
    for (const s of [0, 1]) {
      writeRun(join(root, "a", `seed-${s}`), split, "s1", (u) => rankA(u + s));
      writeRun(join(root, "b", `seed-${s}`), split, "s1", (u) => rankA(u + s));
    }
    const res = compareResults(join(root, "a"), join(root, "b"));
    expect(res.a.seeds).to.deep.equal([0, 1]);
    for (const r of res.rows) expect([r.difference, r.ci_low, r.ci_high, r.p_value]).to.deep.equal([0, 0, 0, 1]);
  });

  it("refuses results of different splits with one clear line (CLI)", () => {
    const a = writeRun(join(root, "a"), split, "s1", rankA);
    const b = writeRun(join(root, "b"), split, "s2", rankA);
    const cli = spawnSync(process.execPath, [join(REPO, "bin/lo-exp.js"), "compare", a, b], { encoding: "utf8" });
    expect(cli.status).to.equal(1);
    expect(cli.stderr.trim().split("\n")).to.deep.equal([
      `lo-exp: cannot compare ${a} with ${b}: they were evaluated on different splits (split s1 in ${a}, s2 in ${b}); a paired comparison needs the same users`,
    ]);
    // same split key but other targets: also refused
    const c = writeRun(join(root, "c"), split, "s1", rankA, (u) => ITEMS[(u * 7) % 100]!);
    expect(() => compareResults(a, c)).to.throw(/user 'u001' has target 'i011' .* but 'i007'/);
  });

  it("--json prints rows with split, slice, metric, k, a, b, difference, ci_low, ci_high, p_value", () => {
    const a = writeRun(join(root, "a"), split, "s1", rankA);
    const b = writeRun(join(root, "b"), split, "s1", rankB);
    const out = execFileSync(process.execPath, [join(REPO, "bin/lo-exp.js"), "compare", a, b, "--slice", "cold", "--json"], { encoding: "utf8" });
    const rows = JSON.parse(out) as Record<string, unknown>[];
    expect(rows.map((r) => `${r.slice}/${r.metric}@${r.k}`)).to.deep.equal(["cold/hr@10", "cold/ndcg@10", "cold/hr@20", "cold/ndcg@20"]);
    for (const key of ["split", "slice", "metric", "k", "a", "b", "difference", "ci_low", "ci_high", "p_value"]) expect(rows[0]).to.have.property(key);
    expect(rows[0]!.difference).to.be.closeTo((rows[0]!.a as number) - (rows[0]!.b as number), 1e-12);
  });
});
