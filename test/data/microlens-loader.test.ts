// The split equals MicroLens's own loader (`read_behaviors`, Code/VideoRec/*/utils/load_data.py) with
// default settings. Each expectation below is worked out by hand from that loader's rules:
//   a line = user TAB items separated by single spaces, in time order; users with < 5 items dropped;
//   the last 13 kept; no dedup, no reordering; a user's later line (≥ 5 items) replaces the earlier one
//   in a dict, but the earlier line's items were already counted, so they stay in the catalogue;
//   fields after the second tab are ignored; the item field is stripped.
import { expect } from "chai";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DataError, loadMicroLens, splitDataset } from "../../ts/data/index.js";

const range = (a: number, b: number): string[] => Array.from({ length: b - a + 1 }, (_, i) => String(a + i));

describe("data/split: equals MicroLens's read_behaviors on the files it accepts", () => {
  const dirs: string[] = [];
  const folder = (name: string, text: string): string => {
    const d = mkdtempSync(join(tmpdir(), "lo-mlr-"));
    dirs.push(d);
    writeFileSync(join(d, name), text);
    return d;
  };
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  const TSV = [
    "1\t90 91 92 93", // 4 items: dropped, and its items with it
    "2\t10 11 12 13 14", // exactly 5: kept
    `3\t${range(1, 15).join(" ")}`, // 15: the first two fall off (and out of the catalogue)
    "4\t20 21 20 21 20", // repeats kept, file order (not sorted)
    "5\t30 31 32 33 34",
    "5\t40 41", // a later line with < 5 items: skipped, the first line stays
    "6\t50 51 52 53 54", // replaced by the next line; its items stay in the catalogue
    "6\t60 61 62 63 64 65\tignored third field\r", // CRLF, a third tab field
    "7\t 70 71 72 73 74 ", // the item field is stripped
  ].join("\n");

  it("keeps, drops, truncates, replaces and orders as MicroLens does", () => {
    const dir = folder("MicroLens-x_pairs.tsv", `${TSV}\n`);
    const out = join(dir, "split");
    const { split } = splitDataset(dir, out, { onMissingVideo: "keep" }); // default protocol; this folder has no videos
    const users = Object.fromEntries(split.test.map((r) => [r.user, r]));
    expect(Object.keys(users).sort()).to.deep.equal(["2", "3", "4", "5", "6", "7"]);
    expect(users["2"]).to.deep.equal({ user: "2", history: ["10", "11", "12", "13"], target: "14", masked: ["10", "11", "12", "13"] });
    expect(users["3"]).to.deep.equal({ user: "3", history: range(5, 14), target: "15", masked: range(3, 14) });
    expect(split.valid.find((r) => r.user === "3")).to.deep.equal({ user: "3", history: range(4, 13), target: "14", masked: range(3, 13) });
    expect(users["4"]).to.deep.equal({ user: "4", history: ["20", "21", "20", "21"], target: "20", masked: ["20", "21", "20", "21"] });
    expect(users["5"]!.target).to.equal("34");
    expect(split.train.find((r) => r.user === "6")!.sequence).to.deep.equal(["60", "61", "62", "63"]);
    expect(users["6"]!.target).to.equal("65");
    expect(users["7"]).to.deep.equal({ user: "7", history: ["70", "71", "72", "73"], target: "74", masked: ["70", "71", "72", "73"] });
    const catalogue = split.items.map((r) => r.item).sort((a, b) => Number(a) - Number(b));
    expect(catalogue).to.deep.equal([
      ...range(3, 15), ...range(20, 21), ...range(30, 34), ...range(50, 54), ...range(60, 65), ...range(70, 74),
    ]);
    const count = Object.fromEntries(split.items.map((r) => [r.item, r.train_count]));
    expect([count["20"], count["21"], count["50"], count["3"], count["14"]]).to.deep.equal([2, 1, 0, 1, 0]); // 14: a valid target
  });

  it("stricter checks are opt-in: dataset.on_duplicate error / skip", () => {
    const dir = folder("MicroLens-x_pairs.tsv", `${TSV}\n`);
    const pairs = join(dir, "MicroLens-x_pairs.tsv");
    let message = "";
    try {
      loadMicroLens(dir, { onDuplicate: "error", onMissingVideo: "keep" });
    } catch (e) {
      expect(e).to.be.instanceOf(DataError);
      message = (e as Error).message;
    }
    expect(message).to.equal(`${pairs}:6: user '5' already has a line (line 5)`);
    const { split } = splitDataset(dir, join(dir, "s"), { onDuplicate: "skip", onMissingVideo: "keep" });
    expect(split.test.find((r) => r.user === "6")!.target).to.equal("54"); // the first line wins
    expect(split.items.some((r) => r.item === "60")).to.equal(false);
  });

  it("a .csv repeating a (user, item, timestamp) row keeps the repeat, as the .tsv would list it", () => {
    const csv = "user,item,timestamp\nu,a,1\nu,b,2\nu,c,3\nu,d,4\nu,d,4\n";
    const dir = folder("MicroLens-x_pairs.csv", csv);
    const { split } = splitDataset(dir, join(dir, "s"), { onMissingVideo: "keep" });
    expect(split.test).to.deep.equal([{ user: "u", history: ["a", "b", "c", "d"], target: "d", masked: ["a", "b", "c", "d"] }]);
    let message = "";
    try {
      loadMicroLens(dir, { onDuplicate: "error", onMissingVideo: "keep" });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).to.equal(`${join(dir, "MicroLens-x_pairs.csv")}:6: duplicate row (same user, item and timestamp as line 5)`);
  });

  it("lenient where MicroLens would crash: a header line, blank lines; a line without a tab is a bad row", () => {
    const dir = folder("MicroLens-x_pairs.tsv", "user\titem\n\n2\t10 11  12 13 14\n");
    const { split } = splitDataset(dir, join(dir, "s"), { onMissingVideo: "keep" });
    expect(split.test).to.deep.equal([{ user: "2", history: ["10", "11", "12", "13"], target: "14", masked: ["10", "11", "12", "13"] }]);
    const bad = folder("MicroLens-x_pairs.tsv", "2 10 11 12 13 14\n");
    expect(() => loadMicroLens(bad, { onMissingVideo: "keep" })).to.throw(DataError, /:1: no tab after the user id/);
  });
});
