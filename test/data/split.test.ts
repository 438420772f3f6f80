import { expect } from "chai";
import { execa } from "execa";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tableFromIPC } from "apache-arrow";
import { officialSplit, readSplit, splitDataset, userSequences, loadMicroLens } from "../../ts/data/index.js";
import { EXPECTED, writeHandmade } from "./handmade.js";

describe("data/split: the official MicroLens protocol", () => {
  const dir = writeHandmade();
  const out = join(dir, "split");
  const { split, written } = splitDataset(dir, out);
  const back = readSplit(out);
  after(() => rmSync(dir, { recursive: true, force: true }));
  const byUser = <T extends { user: string }>(rows: T[]) => Object.fromEntries(rows.map((r) => [r.user, r]));

  it("drops users with < 5 interactions, keeps the last 13, and clears the catalogue of unmentioned items", () => {
    expect(split.counts).to.deep.equal({
      usersIn: EXPECTED.usersIn,
      usersKept: EXPECTED.usersKept,
      usersDropped: 2,
      itemsIn: EXPECTED.itemsIn,
      itemsKept: 16,
      interactionsIn: EXPECTED.interactionsIn,
      interactionsKept: 5 + 13 + 5 + 5 + 5 + 6 + 5 + 6 + 5 + 5,
      trainSamples: EXPECTED.trainSamples,
    });
    expect(back.items.map((r) => r.item)).to.deep.equal(EXPECTED.catalogue); // q, r, s, t are gone
    expect(Object.fromEntries(back.items.map((r) => [r.item, r.train_count]))).to.deep.equal(EXPECTED.trainCount);
    expect(back.train.map((r) => r.user)).to.deep.equal(["u01", "u02", "u03", "u04", "u06", "u07", "u08", "u09", "u10", "u12"]);
  });

  it("user with exactly 5: 3 train items, valid and test targets, masks", () => {
    const v = byUser(back.valid).u01!;
    const t = byUser(back.test).u01!;
    expect(byUser(back.train).u01!.sequence).to.deep.equal(["a", "b", "c"]);
    expect(v).to.deep.equal({ user: "u01", history: ["a", "b", "c"], target: "d", masked: ["a", "b", "c"] });
    expect(t).to.deep.equal({ user: "u01", history: ["a", "b", "c", "d"], target: "e", masked: ["a", "b", "c", "d"] });
  });

  it("user with 15: last 13 kept, histories capped at 10, masks hold every kept item before the target", () => {
    const v = byUser(back.valid).u02!;
    const t = byUser(back.test).u02!;
    expect(byUser(back.train).u02!.sequence).to.deep.equal(EXPECTED.train.u02);
    expect(v.history).to.deep.equal("bcdefghijk".split(""));
    expect(v.target).to.equal("l");
    expect(v.masked).to.deep.equal("abcdefghijk".split("")); // 11
    expect(t.history).to.deep.equal("cdefghijkl".split(""));
    expect(t.target).to.equal("m");
    expect(t.masked).to.deep.equal("abcdefghijkl".split("")); // 12
  });

  it("equal timestamps keep file order (stable sort): u03 is h, f, g, a, b", () => {
    expect(byUser(back.train).u03!.sequence).to.deep.equal(["h", "f", "g"]);
    expect(byUser(back.valid).u03!.target).to.equal("a");
    expect(byUser(back.test).u03!.target).to.equal("b");
    // and with the two equal rows swapped in the input, f and g swap too
    const ds = loadMicroLens(dir);
    const swapped = ds.interactions.slice();
    const fi = swapped.findIndex((x) => x.user === "u03" && x.item === "f");
    const gi = swapped.findIndex((x) => x.user === "u03" && x.item === "g");
    [swapped[fi], swapped[gi]] = [swapped[gi]!, swapped[fi]!];
    expect(userSequences(swapped).get("u03")).to.deep.equal(["h", "g", "f", "a", "b"]);
  });

  it("a test target that repeats a history item is kept (and masked)", () => {
    const t = byUser(back.test).u04!;
    expect(t).to.deep.equal({ user: "u04", history: ["c", "d", "e", "f"], target: "c", masked: ["c", "d", "e", "f"] });
  });

  it("every training sequence matches the hand-worked one", () => {
    expect(Object.fromEntries(back.train.map((r) => [r.user, r.sequence]))).to.deep.equal(EXPECTED.train);
  });

  it("writes Arrow IPC files with the contract's column types, titles and video paths", () => {
    expect(written.map((p) => p.slice(out.length + 1))).to.deep.equal(["items.arrow", "train.arrow", "valid.arrow", "test.arrow", "split.json"]);
    const items = tableFromIPC(readFileSync(join(out, "items.arrow")));
    expect(items.schema.fields.map((f) => `${f.name}:${f.type}`)).to.deep.equal(["item:Utf8", "train_count:Int64", "title:Utf8", "video:Utf8"]);
    const test = tableFromIPC(readFileSync(join(out, "test.arrow")));
    expect(test.schema.fields.map((f) => `${f.name}:${f.type}`)).to.deep.equal(["user:Utf8", "history:List<Utf8>", "target:Utf8", "masked:List<Utf8>"]);
    expect(back.items[0]!.title).to.equal("Title a, with comma");
    expect(back.items[0]!.video).to.equal(join(dir, "MicroLens-50k_videos", "a.mp4"));
    const manifest = JSON.parse(readFileSync(join(out, "split.json"), "utf8"));
    expect(manifest.protocol).to.deep.equal({ minInteractions: 5, keep: 13, historyMax: 10 });
  });

  it("pyarrow reads the files as the Python side will (same rows, same types)", async () => {
    const script = [
      "import sys, json, pyarrow as pa",
      "out = {}",
      "for n in ['items', 'train', 'valid', 'test']:",
      "    t = pa.ipc.open_file(f'{sys.argv[1]}/{n}.arrow').read_all()",
      "    out[n] = {'types': [str(f.type) for f in t.schema], 'rows': t.to_pylist()}",
      "print(json.dumps(out))",
    ].join("\n");
    const py = JSON.parse((await execa(join(process.cwd(), ".venv", "bin", "python"), ["-c", script, out])).stdout);
    expect(py.items.types).to.deep.equal(["string", "int64", "string", "string"]);
    expect(py.test.types).to.deep.equal(["string", "list<item: string not null>", "string", "list<item: string not null>"]);
    expect(py.items.rows).to.deep.equal(back.items);
    expect(py.train.rows).to.deep.equal(back.train);
    expect(py.valid.rows).to.deep.equal(back.valid);
    expect(py.test.rows).to.deep.equal(back.test);
  });

  it("protocol parameters are honoured and validated", () => {
    const ds = loadMicroLens(dir);
    const s = officialSplit(ds.interactions, { minInteractions: 6, keep: 6, historyMax: 2 });
    expect(s.train.map((r) => r.user)).to.deep.equal(["u02", "u07", "u09"]);
    expect(s.test.find((r) => r.user === "u02")).to.deep.equal({ user: "u02", history: ["k", "l"], target: "m", masked: ["h", "i", "j", "k", "l"] });
    expect(() => officialSplit(ds.interactions, { minInteractions: 2 })).to.throw(RangeError, /minInteractions/);
  });
});
