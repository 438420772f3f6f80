import { expect } from "chai";
import { rmSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { datasetStats, formatStats, statsRows } from "../../ts/data/index.js";
import { EXPECTED, writeHandmade } from "./handmade.js";

describe("data/stats: Table 1 rows", () => {
  const dir = writeHandmade();
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("counts what the hand-made directory holds", () => {
    unlinkSync(join(dir, "MicroLens-50k_videos", "t.mp4"));
    const s = datasetStats(dir);
    expect(s).to.include({
      variant: "50k",
      users: 12,
      items: 20,
      interactions: EXPECTED.interactionsIn,
      trainSamples: EXPECTED.trainSamples,
      validSamples: 10,
      testSamples: 10,
      interactionsPerUserMin: 3,
      interactionsPerUserMax: 15,
      itemsWithVideo: 19,
      itemsWithoutVideo: 1,
      itemsWithTitle: 20,
      usersDropped: 2,
      catalogueItems: 16,
    });
    expect(s.avgSeqLength).to.be.closeTo(69 / 12, 1e-12);
    const rows = Object.fromEntries(statsRows(s));
    expect(rows["# Users"]).to.equal("12");
    expect(rows["# Training samples"]).to.equal("40");
    expect(rows["Avg seq length"]).to.equal("5.75");
    expect(rows["Interactions per User"]).to.equal("3–15");
    const table = formatStats(s);
    expect(table.split("\n")[0]).to.match(/^\| Statistics\s+\| MicroLens-50k \|$/);
    expect(table).to.match(/\| # Items without video\s+\|\s+1 \|/);
  });
});
