import { expect } from "chai";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
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
});
