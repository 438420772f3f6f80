import { expect } from "chai";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { readSplit, splitDataset } from "../../ts/data/index.js";
import { computeMetrics, popularityRanks } from "../../ts/metrics/index.js";
import { EXPECTED, writeHandmade } from "../data/handmade.js";

describe("metrics/popularity: the popularity baseline", () => {
  const dir = writeHandmade();
  const splitDir = join(dir, "split");
  splitDataset(dir, splitDir);
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("ranks match the hand-worked ranks (masked targets last, ties by catalogue index)", () => {
    const { path, rows } = popularityRanks(splitDir);
    expect(path).to.equal(join(splitDir, "ranks-pop.arrow"));
    const test = Object.fromEntries(rows.filter((r) => r.split === "test").map((r) => [r.user, r.rank]));
    expect(test).to.deep.equal(EXPECTED.popTestRanks);
    const valid = Object.fromEntries(rows.filter((r) => r.split === "valid").map((r) => [r.user, r.rank]));
    expect(valid.u01).to.equal(EXPECTED.popValidRanks.u01);
    expect(valid.u04).to.equal(EXPECTED.popValidRanks.u04);
    // topk skips masked items: u01 (test) has a, b, c, d masked
    expect(rows.find((r) => r.user === "u01" && r.split === "test")!.topk.slice(0, 4)).to.deep.equal(["e", "f", "g", "h"]);
    const m = computeMetrics(path, join(splitDir, "items.arrow"));
    const overall = m.rows.find((r) => r.split === "test" && r.slice === "overall")!;
    expect(overall.hr[10]).to.be.closeTo(0.6, 1e-12);
  });

  it("agrees with a brute-force full ranking on every user", () => {
    const split = readSplit(splitDir);
    const { rows } = popularityRanks(splitDir, { out: join(dir, "pop.arrow"), topk: 5 });
    for (const r of rows) {
      const e = split[r.split].find((x) => x.user === r.user)!;
      const masked = new Set(e.masked);
      const scored = split.items.map((it, idx) => ({ it: it.item, idx, s: masked.has(it.item) ? -Infinity : it.train_count }));
      scored.sort((a, b) => (b.s === a.s ? a.idx - b.idx : b.s - a.s));
      expect(r.rank, `${r.split} ${r.user}`).to.equal(scored.findIndex((x) => x.it === e.target) + 1);
      expect(r.topk).to.deep.equal(scored.filter((x) => x.s !== -Infinity).slice(0, 5).map((x) => x.it));
    }
  });
});
