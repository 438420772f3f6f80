import { expect } from "chai";
import { mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DataError, findVariants, loadMicroLens, warningTotal } from "../../ts/data/index.js";
import { writeHandmade } from "./handmade.js";

const dirs: string[] = [];
function handmade(opts: Parameters<typeof writeHandmade>[0] = {}): string {
  const d = writeHandmade(opts);
  dirs.push(d);
  return d;
}
function emptyDir(): string {
  const d = mkdtempSync(join(tmpdir(), "lo-ml-"));
  dirs.push(d);
  return d;
}
/** The error a call throws (fails the test if it does not throw). */
function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected an error");
}

describe("data/microlens: loader", () => {
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it("loads a clean directory with zero warnings: interactions in file order, titles, videos, covers", () => {
    const dir = handmade();
    const ds = loadMicroLens(dir);
    expect(ds.variant).to.equal("50k");
    expect(ds.files.pairsFormat).to.equal("csv");
    expect(ds.interactions).to.have.length(69);
    expect(ds.interactions[0]).to.deep.equal({ user: "u03", item: "h", timestamp: 900, line: 2 });
    expect(ds.titles.get("c")).to.equal("Title c, with comma");
    expect(ds.videos.get("t")).to.equal(join(dir, "MicroLens-50k_videos", "t.mp4"));
    expect(ds.covers.size).to.equal(20);
    expect(warningTotal(ds)).to.equal(0);
  });

  it("missing pairs file: error naming the expected file", () => {
    const dir = emptyDir();
    expect(errorOf(() => loadMicroLens(dir)).message).to.equal(`${dir}: no pairs file (expected MicroLens-<variant>_pairs.csv or _pairs.tsv)`);
    const other = handmade();
    const e = errorOf(() => loadMicroLens(other, { variant: "100k" }));
    expect(e).to.be.instanceOf(DataError);
    expect(e.message).to.equal(`${join(other, "MicroLens-100k_pairs.csv")}: missing pairs file (variants here: 50k)`);
  });

  it("several variants in one directory need dataset.variant", () => {
    const dir = handmade();
    writeFileSync(join(dir, "MicroLens-100k_pairs.csv"), "user,item,timestamp\n");
    expect(findVariants(dir)).to.deep.equal(["100k", "50k"]);
    expect(errorOf(() => loadMicroLens(dir)).message).to.match(/several MicroLens variants \(100k, 50k\)/);
    expect(loadMicroLens(dir, { variant: "50k" }).interactions).to.have.length(69);
  });

  it("wrong header: error at line 1, whatever the policy", () => {
    const dir = emptyDir();
    writeFileSync(join(dir, "MicroLens-50k_pairs.csv"), "user_id,item_id,time\nu1,a,1\n");
    const pairs = join(dir, "MicroLens-50k_pairs.csv");
    expect(errorOf(() => loadMicroLens(dir, { onBadRow: "skip" })).message).to.equal(
      `${pairs}:1: wrong header 'user_id,item_id,time' (expected 'user,item,timestamp')`,
    );
    writeFileSync(pairs, "userID,videoID,timestamp\nu1,a,1\n"); // the column names of MicroLens's readme
    expect(loadMicroLens(dir, { onMissingVideo: "keep" }).interactions).to.deep.equal([{ user: "u1", item: "a", timestamp: 1, line: 2 }]);
  });

  const badRows: [string, string, string][] = [
    ["non-numeric timestamp", "u01,a,yesterday", "non-numeric timestamp 'yesterday'"],
    ["empty user id", ",a,5", "empty user id"],
    ["empty item id", "u01,,5", "empty item id"],
    ["wrong field count", "u01,a", "expected 3 fields (user,item,timestamp), got 2"],
  ];
  for (const [what, row, message] of badRows) {
    it(`${what}: error naming file and line; under skip a counted warning`, () => {
      const dir = handmade({ extraCsv: `${row}\n` });
      const pairs = join(dir, "MicroLens-50k_pairs.csv");
      expect(errorOf(() => loadMicroLens(dir)).message).to.equal(`${pairs}:71: ${message}`);
      const ds = loadMicroLens(dir, { onBadRow: "skip" });
      expect(ds.interactions).to.have.length(69);
      expect(ds.warningCounts.bad_row).to.equal(1);
      expect(ds.warnings).to.deep.equal([{ kind: "bad_row", file: pairs, line: 71, message }]);
    });
  }

  it("duplicate rows: kept by default (MicroLens); on_duplicate error names both lines; under skip counted, the first copy kept", () => {
    const dir = handmade({ extraCsv: "u01,a,10000\nu01,a,10000\n" }); // u01's first row (a at 10000) is already in the file
    const pairs = join(dir, "MicroLens-50k_pairs.csv");
    expect(loadMicroLens(dir).interactions).to.have.length(71);
    const e = errorOf(() => loadMicroLens(dir, { onDuplicate: "error" }));
    expect(e.message).to.match(new RegExp(`^${pairs.replaceAll("/", "\\/")}:71: duplicate row \\(same user, item and timestamp as line \\d+\\)$`));
    const ds = loadMicroLens(dir, { onDuplicate: "skip" });
    expect(ds.interactions).to.have.length(69);
    expect(ds.warningCounts.duplicate_row).to.equal(2);
    expect(ds.warnings.map((w) => w.line)).to.deep.equal([71, 72]);
  });

  it("a pairs item with no video file: error naming file, line and item; skip drops its rows; keep lists it", () => {
    const dir = handmade();
    const videos = join(dir, "MicroLens-50k_videos");
    unlinkSync(join(videos, "p.mp4"));
    const pairs = join(dir, "MicroLens-50k_pairs.csv");
    const e = errorOf(() => loadMicroLens(dir));
    expect(e.message).to.match(new RegExp(`^${pairs.replaceAll("/", "\\/")}:\\d+: item 'p' has no video file ${join(videos, "p.mp4").replaceAll("/", "\\/")}$`));
    const skipped = loadMicroLens(dir, { onMissingVideo: "skip" });
    expect(skipped.interactions.filter((x) => x.item === "p")).to.have.length(0);
    expect(skipped.interactions).to.have.length(69 - 3); // p is in u06, u07, u12
    expect(skipped.warningCounts.missing_video).to.equal(1);
    const kept = loadMicroLens(dir, { onMissingVideo: "keep" });
    expect(kept.interactions).to.have.length(69);
    expect(kept.itemsWithoutVideo).to.deep.equal(["p"]);
    expect(kept.videos.has("p")).to.equal(false);
  });

  it("no videos directory: error unless on_missing_video is keep/skip", () => {
    const dir = handmade({ videos: false });
    expect(errorOf(() => loadMicroLens(dir)).message).to.match(/MicroLens-50k_videos: missing videos directory/);
    expect(loadMicroLens(dir, { onMissingVideo: "keep" }).itemsWithoutVideo).to.have.length(20);
  });

  it("titles file missing is allowed (no titles, no warning)", () => {
    const dir = handmade({ titles: false });
    const ds = loadMicroLens(dir);
    expect(ds.files.titles).to.equal(null);
    expect(ds.titles.size).to.equal(0);
    expect(warningTotal(ds)).to.equal(0);
  });

  it("reads the 100k title_en form (no header, unquoted commas) and the .tsv pairs form", () => {
    const dir = emptyDir();
    writeFileSync(join(dir, "MicroLens-100k_pairs.tsv"), "1\t10 11 12 13 14\n2\t11 12 13 14 15 10\n");
    writeFileSync(join(dir, "MicroLens-100k_title_en.csv"), '10,cats, dogs and more\n11,"quoted, ""title"""\n12,plain\n');
    const ds = loadMicroLens(dir, { onMissingVideo: "keep" });
    expect(ds.files.pairsFormat).to.equal("tsv");
    expect(ds.interactions.filter((x) => x.user === "2").map((x) => x.item)).to.deep.equal(["11", "12", "13", "14", "15", "10"]);
    expect(ds.interactions[5]).to.deep.equal({ user: "2", item: "11", timestamp: 0, line: 2 });
    expect(ds.titles.get("10")).to.equal("cats, dogs and more");
    expect(ds.titles.get("11")).to.equal('quoted, "title"');
    expect(ds.titles.size).to.equal(3);
  });

  it("prefers the .csv when both pairs forms exist; pairs: tsv picks the other", () => {
    const dir = handmade();
    writeFileSync(join(dir, "MicroLens-50k_pairs.tsv"), "u01\ta b c d e\n");
    expect(loadMicroLens(dir).files.pairsFormat).to.equal("csv");
    expect(loadMicroLens(dir, { pairs: "tsv" }).interactions).to.have.length(5);
    renameSync(join(dir, "MicroLens-50k_pairs.csv"), join(dir, "elsewhere.csv"));
    expect(loadMicroLens(dir).files.pairsFormat).to.equal("tsv");
  });

  it("an unterminated quote in titles is an error naming the line", () => {
    const dir = handmade();
    const titles = join(dir, "MicroLens-50k_titles.csv");
    writeFileSync(titles, 'item,title\na,fine\nb,"never closed\nc,x\n');
    expect(errorOf(() => loadMicroLens(dir)).message).to.equal(`${titles}:3: unterminated quoted field`);
  });

  it("a missing or unreadable directory is a clear error", () => {
    const dir = join(emptyDir(), "nope");
    expect(errorOf(() => loadMicroLens(dir)).message).to.equal(`${dir}: not a readable directory`);
  });
});
