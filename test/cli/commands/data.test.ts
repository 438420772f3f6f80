import { expect } from "chai";
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeHandmade } from "../../data/handmade.js";
import { loExp, REPO_ROOT } from "../../helpers.js";

const run = (...args: string[]) => loExp(args, REPO_ROOT, 120_000);

describe("cli: lo-exp data synth|stats|split (real processes)", function () {
  this.timeout(120_000);
  let root = "";
  before(() => (root = mkdtempSync(join(tmpdir(), "lo-cli-data-"))));
  after(() => root && rmSync(root, { recursive: true, force: true }));

  it("synth writes a dataset; stats prints the Table 1 rows; split writes the four Arrow files", async () => {
    const out = join(root, "synth");
    const synth = await run("data", "synth", "--out", out, "--preset", "tiny", "--seed", "5");
    expect(synth.code, synth.stderr).to.equal(0);
    expect(synth.stdout).to.match(/MicroLens-synth, 60 users, 30 items \(\d+ cold, 4 topics\), \d+ interactions; videos rendered 30, skipped 0/);

    const stats = await run("data", "stats", out);
    expect(stats.code, stats.stderr).to.equal(0);
    for (const row of ["# Users", "# Items (Videos)", "# Total interactions", "# Training samples", "# Validation samples", "# Test samples", "Avg seq length", "Interactions per User"]) {
      expect(stats.stdout).to.include(`| ${row} `);
    }
    expect(stats.stdout).to.match(/\| # Users\s+\|\s+60 \|/);
    expect(stats.stdout).to.match(/\| # Items without video\s+\|\s+0 \|/);

    const split = await run("data", "split", out, "--out", join(root, "split"));
    expect(split.code, split.stderr).to.equal(0);
    expect(split.stdout).to.match(/60 users \(0 dropped\), 30 items/);
    for (const f of ["items", "train", "valid", "test"]) expect(existsSync(join(root, "split", `${f}.arrow`))).to.equal(true);
  });

  it("bad input is one line naming file and line, exit code 1; --on-bad-row skip reports counted warnings", async () => {
    const dir = writeHandmade({ extraCsv: "u01,a,soon\n" });
    try {
      const bad = await run("data", "split", dir, "--out", join(root, "bad"));
      expect(bad.code).to.equal(1);
      expect(bad.stderr.trim()).to.equal(`lo-exp: ${join(dir, "MicroLens-50k_pairs.csv")}:71: non-numeric timestamp 'soon'`);
      const skip = await run("data", "split", dir, "--out", join(root, "skip"), "--on-bad-row", "skip");
      expect(skip.code).to.equal(0);
      expect(skip.stderr).to.include("warnings: 1 (bad_row 1)");
      const noOut = await run("data", "synth");
      expect(noOut.code).to.equal(1);
      expect(noOut.stderr).to.include("data synth: --out DIR is required");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("invalid UTF-8 in a dataset file is an error naming file:line and byte offset, never two users merged into one", async () => {
    // Issue 22: u\xfe and u\xff (3 interactions each) used to decode to one user u\ufffd with 6.
    const dir = writeHandmade();
    try {
      const pairs = join(dir, "MicroLens-50k_pairs.csv");
      const before = statSync(pairs).size;
      const lines = readFileSync(pairs, "utf8").split("\n").filter((l) => l).length;
      const rows = [0xfe, 0xff].flatMap((b) => [1, 2, 3].map((t) => Buffer.concat([Buffer.from("u"), Buffer.from([b]), Buffer.from(`,a,${t}\n`)])));
      appendFileSync(pairs, Buffer.concat(rows));
      for (const verb of [["stats"], ["split", "--out", join(root, "utf8-split")]]) {
        const r = await run("data", verb[0]!, dir, ...verb.slice(1));
        expect(r.code, r.stderr).to.equal(1);
        expect(r.stderr.trim().split("\n")).to.have.length(1);
        expect(r.stderr).to.include(`lo-exp: ${pairs}:${lines + 1}: not UTF-8: byte 0xfe at byte offset ${before + 1} `);
        expect(r.stderr).to.not.match(/internal error|\bat \w+ \(/);
      }
      // The titles file is checked the same way.
      const titles = join(dir, "MicroLens-50k_titles.csv");
      writeFileSync(pairs, readFileSync(pairs).subarray(0, before));
      appendFileSync(titles, Buffer.from([0x7a, 0x2c, 0xc3, 0x28, 0x0a]));
      const t = await run("data", "stats", dir);
      expect(t.code).to.equal(1);
      expect(t.stderr).to.match(new RegExp(`lo-exp: ${titles.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:\\d+: not UTF-8: byte 0xc3 at byte offset \\d+`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
