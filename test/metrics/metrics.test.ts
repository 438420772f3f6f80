import { expect } from "chai";
import { execa } from "execa";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { computeMetrics, formatMetrics, headItems, metricsFromRanks, ndcgAt, readRanks, writeRanks, type RankRow } from "../../ts/metrics/index.js";
import { splitDataset } from "../../ts/data/index.js";
import { EXPECTED, writeHandmade } from "../data/handmade.js";
import { REPO_ROOT } from "../../ts/worker/index.js";

const close = (a: number | null | undefined, b: number) => expect(a).to.be.closeTo(b, 1e-9);

describe("metrics: HR@K / NDCG@K, cold-start and long-tail slices", () => {
  const dir = writeHandmade();
  const splitDir = join(dir, "split");
  splitDataset(dir, splitDir);
  const itemsPath = join(splitDir, "items.arrow");
  const ranksPath = join(dir, "ranks.arrow");
  // Hand-written test ranks for the 10 kept users (the popularity ranks worked out in handmade.ts).
  const rows: RankRow[] = Object.entries(EXPECTED.popTestRanks).map(([user, rank]) => ({ user, split: "test", target: "", rank, topk: [] }));
  const targets: Record<string, string> = { u01: "e", u02: "m", u03: "b", u04: "c", u06: "p", u07: "c", u08: "b", u09: "j", u10: "i", u12: "l" };
  rows.forEach((r) => (r.target = targets[r.user]!));
  writeRanks(ranksPath, rows);
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("NDCG of one rank is 1/log2(rank+1) inside the cut-off, else 0", () => {
    close(ndcgAt(1, 10), 1);
    close(ndcgAt(3, 10), 0.5);
    close(ndcgAt(7, 10), 1 / 3);
    close(ndcgAt(11, 10), 0);
  });

  it("overall values match the hand computation (ranks 1,4,1,13,8,1,16,9,12,12)", () => {
    const m = computeMetrics(ranksPath, itemsPath);
    expect(m.ks).to.deep.equal([10, 20]);
    const overall = m.rows.find((r) => r.split === "test" && r.slice === "overall")!;
    expect(overall.users).to.equal(10);
    close(overall.hr[10], 0.6);
    // (1 + 1/log2 5 + 1 + 1/log2 9 + 1 + 1/log2 10) / 10
    close(overall.ndcg[10], (3 + 0.43067655807339306 + 0.31546487678572877 + 0.30102999566398120) / 10);
    close(overall.hr[20], 1.0);
    close(overall.ndcg[20], (3 + 0.43067655807339306 + 0.31546487678572877 + 0.3010299956639812 + 0.26264953503719357 + 0.24465054211822604 + 2 * 0.27023815442731974) / 10);
    expect(m.rows.some((r) => r.split === "valid")).to.equal(false); // only splits present are reported
  });

  it("cold-start slice: targets with train_count <= cold_max", () => {
    // train counts: m 1, j 1, i 1, l 1 (<= 1) -> users u02 (rank 4), u09 (9), u10 (12), u12 (12)
    const m = computeMetrics(ranksPath, itemsPath, { coldMax: 1, ks: [10] });
    const cold = m.rows.find((r) => r.slice === "cold")!;
    expect(cold.users).to.equal(4);
    close(cold.hr[10], 0.5);
    close(cold.ndcg[10], (0.43067655807339306 + 0.3010299956639812) / 4);
    expect(m.coldItems).to.equal(4);
    // default cold_max 5: every item of this tiny catalogue is cold
    expect(computeMetrics(ranksPath, itemsPath).rows.find((r) => r.slice === "cold")!.users).to.equal(10);
  });

  it("long-tail slice: outside the most popular items that make 80% of training interactions", () => {
    // 40 interactions, 80% = 32: a5 b5 c3 e3 f3 g3 h3 n3 d2 k2 reach 32 -> head of 10 items
    const counts = Object.entries(EXPECTED.trainCount).map(([item, train_count]) => ({ item, train_count }));
    expect([...headItems(counts, 0.8)].sort()).to.deep.equal(["a", "b", "c", "d", "e", "f", "g", "h", "k", "n"]);
    const m = computeMetrics(ranksPath, itemsPath, { ks: [10] });
    expect(m.headItems).to.equal(10);
    const tail = m.rows.find((r) => r.slice === "longtail")!;
    // targets outside the head: m (u02, 4), p (u06, 8), j (u09, 9), i (u10, 12), l (u12, 12)
    expect(tail.users).to.equal(5);
    close(tail.hr[10], 0.6);
    close(tail.ndcg[10], (0.43067655807339306 + 0.31546487678572877 + 0.3010299956639812) / 5);
    // a tie at the boundary is settled by catalogue index: with share 0.25 (10), a and b (5 each) suffice
    expect([...headItems(counts, 0.25)]).to.deep.equal(["a", "b"]);
    expect([...headItems(counts, 0.26)]).to.deep.equal(["a", "b", "c"]);
  });

  it("empty slices report null, and the table prints a dash", () => {
    const m = metricsFromRanks([{ user: "x", split: "valid", target: "a", rank: 2, topk: [] }], [{ item: "a", train_count: 9 }, { item: "b", train_count: 1 }], { coldMax: 5 });
    const cold = m.rows.find((r) => r.slice === "cold")!;
    expect(cold.users).to.equal(0);
    expect(cold.hr[10]).to.equal(null);
    expect(formatMetrics(m)).to.match(/\| valid \| cold\s+\|\s+0 \|\s+– \|/);
  });

  it("bad ranks files are clear errors naming the file and row", () => {
    const missing = join(dir, "nope.arrow");
    expect(() => computeMetrics(missing, itemsPath)).to.throw(`${missing}: no such file`);
    const garbage = join(dir, "garbage.arrow");
    writeFileSync(garbage, "not arrow");
    expect(() => computeMetrics(garbage, itemsPath)).to.throw(/garbage.arrow: not an Arrow IPC file/);
    const bad = join(dir, "bad.arrow");
    writeRanks(bad, [...rows.slice(0, 2), { user: "u99", split: "test", target: "zz", rank: 3, topk: [] }]);
    expect(() => computeMetrics(bad, itemsPath)).to.throw(`${bad}: row 2: target 'zz' is not in the catalogue`);
    writeRanks(bad, [rows[0]!, rows[0]!]);
    expect(() => computeMetrics(bad, itemsPath)).to.throw(`${bad}: row 1: user 'u01' appears twice in split 'test'`);
    writeRanks(bad, [{ ...rows[0]!, rank: 0 }]);
    expect(() => computeMetrics(bad, itemsPath)).to.throw(`${bad}: row 0: rank must be an integer ≥ 1, got 0`);
    writeRanks(bad, [{ ...rows[0]!, rank: 17 }]);
    expect(() => computeMetrics(bad, itemsPath)).to.throw(`${bad}: row 0: rank 17 exceeds the catalogue size 16`);
    expect(() => computeMetrics(ranksPath, ranksPath)).to.throw(`${ranksPath}: missing column 'item'`);
  });

  it("reads a ranks.arrow written by pyarrow (int64 ranks, as the Python rank op may write)", async () => {
    const py = join(dir, "py-ranks.arrow");
    const script = [
      "import sys, pyarrow as pa",
      "t = pa.table({'user': ['u01', 'u02'], 'split': ['test', 'test'], 'target': ['e', 'm'],",
      "              'rank': pa.array([1, 11], pa.int64()), 'topk': [['e', 'f'], ['n']]})",
      "with pa.ipc.new_file(sys.argv[1], t.schema) as w: w.write_table(t)",
    ].join("\n");
    await execa(join(process.cwd(), ".venv", "bin", "python"), ["-c", script, py]);
    const m = computeMetrics(py, itemsPath, { ks: [10] });
    const overall = m.rows.find((r) => r.slice === "overall")!;
    expect(overall.users).to.equal(2);
    close(overall.hr[10], 0.5);
    close(overall.ndcg[10], 0.5);
  });

  it("ranks.arrow round-trips", () => {
    const back = readRanks(ranksPath);
    expect(back.map((r) => [r.user, r.split, r.target, r.rank])).to.deep.equal(rows.map((r) => [r.user, r.split, r.target, r.rank]));
  });

  it("HR@K and NDCG@K match the hand-derived fixture that the Python selection tests read too", () => {
    interface Case { ranks: number[]; expected: { k: number; hr: string; ndcg: string }[] }
    const fixture = JSON.parse(readFileSync(join(REPO_ROOT, "schemas", "fixtures", "metrics.json"), "utf8")) as { cases: Case[] };
    // the fixture's values: sums of "a/b" and "a/(b log2 c)" terms
    const exact = (expr: string): number =>
      expr.split(" + ").reduce((sum, term) => {
        const frac = /^(\d+)\/(\d+)$/.exec(term);
        if (frac) return sum + Number(frac[1]) / Number(frac[2]);
        const log = /^(\d+)\/\((\d+) log2 (\d+)\)$/.exec(term);
        if (log) return sum + Number(log[1]) / (Number(log[2]) * Math.log2(Number(log[3])));
        throw new Error(`schemas/fixtures/metrics.json: cannot read '${term}'`);
      }, 0);
    let checked = 0;
    for (const c of fixture.cases) {
      const catalogue = Array.from({ length: Math.max(...c.ranks) }, (_, i) => ({ item: `i${i}`, train_count: 100 }));
      const rankRows: RankRow[] = c.ranks.map((rank, i) => ({ user: `u${i}`, split: "test", target: "i0", rank, topk: [] }));
      const m = metricsFromRanks(rankRows, catalogue, { ks: c.expected.map((e) => e.k) });
      const overall = m.rows.find((r) => r.split === "test" && r.slice === "overall")!;
      for (const e of c.expected) {
        close(overall.hr[e.k], exact(e.hr));
        close(overall.ndcg[e.k], exact(e.ndcg));
        checked += 1;
      }
    }
    expect(checked).to.equal(10);
  });
});
