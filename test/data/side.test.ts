// The side file (ts/data/side.ts): values by item and channel, absent values, and one-line errors.
import { expect } from "chai";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DataError, readSideFile, sideChannelValues, sideFilePath } from "../../ts/data/index.js";

describe("data/side: MicroLens-<v>_side.csv", () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), "lo-sidefile-"))));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const write = (text: string): string => {
    writeFileSync(sideFilePath(dir, "v"), text);
    return sideFilePath(dir, "v");
  };
  const messageOf = (fn: () => unknown): string => {
    try {
      fn();
    } catch (e) {
      expect(e).to.be.instanceOf(DataError);
      return (e as Error).message;
    }
    throw new Error("expected an error");
  };

  it("reads quoted multi-line values; empty cells are absent; only configured channels come back", () => {
    write('item,transcript,tags\n1,"line one,\nline ""two""",cats\n2,,dogs\n');
    expect(readSideFile(sideFilePath(dir, "v")).columns).to.deep.equal(["transcript", "tags"]);
    const values = sideChannelValues(dir, "v", ["title", "transcript"]);
    expect([...values]).to.deep.equal([["1", new Map([["transcript", 'line one,\nline "two"']])]]);
    expect(sideChannelValues(dir, "v", ["title"]).size).to.equal(0); // title alone reads no side file
  });

  it("names the file and line of a bad header, a reserved column, a short row and a repeated item", () => {
    let p = write("id,transcript\n");
    expect(messageOf(() => readSideFile(p))).to.equal(`${p}:1: the header must start with 'item' (got 'id,transcript')`);
    p = write("item,title\n");
    expect(messageOf(() => readSideFile(p))).to.match(/:1: column 'title' is not allowed/);
    p = write("item,transcript,tags\n1,x\n");
    expect(messageOf(() => readSideFile(p))).to.equal(`${p}:2: expected 3 fields (item,transcript,tags), got 2`);
    p = write("item,transcript\n1,x\n1,y\n");
    expect(messageOf(() => readSideFile(p))).to.equal(`${p}:3: item '1' already has a row (line 2)`);
  });

  it("a channel without a side file names extract.side_channels and the file it looked for", () => {
    const other = mkdtempSync(join(tmpdir(), "lo-sidefile-"));
    try {
      expect(messageOf(() => sideChannelValues(other, "v", ["title", "tags"]))).to.equal(
        `extract.side_channels: 'tags' needs a side file ${sideFilePath(other, "v")} (only title comes without one; docs/data.md)`,
      );
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
