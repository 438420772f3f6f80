// ID-only and popularity configs run on interactions alone: a folder holding only MicroLens-<v>_pairs.csv
// (no videos, no titles) goes through split, training/ranking and metrics; no extraction runs.
import { expect } from "chai";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Reporter } from "../../ts/schedule/progress.js";
import { runConfig } from "../../ts/schedule/run.js";
import { REPO_ROOT } from "../helpers.js";


describe("ID-only and popularity configs on a pairs file alone", function () {
  this.timeout(300_000);
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), "lo-idonly-"));
    mkdirSync(join(root, "data"));
    // 24 users, 6 interactions each over 12 items (user u watches items u, u+1, ... mod 12)
    const rows = ["user,item,timestamp"];
    for (let u = 0; u < 24; u++) for (let k = 0; k < 6; k++) rows.push(`u${u},i${(u + k) % 12},${1000 * u + k}`);
    writeFileSync(join(root, "data", "MicroLens-tiny_pairs.csv"), `${rows.join("\n")}\n`);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  for (const config of ["configs/sasrec-id.yaml", "configs/pop.yaml"]) {
    it(`${config} runs to metrics without a videos folder`, async () => {
      const sets = [
        "dataset.source=microlens",
        `dataset.dir=${join(root, "data")}`,
        `cache_dir=${join(root, "cache")}`,
        `results_dir=${join(root, "results")}`,
        "train.epochs=1",
        "workers.count=1",
      ];
      const r = await runConfig(join(REPO_ROOT, config), { sets, reporter: new Reporter({ mode: "json", write: () => undefined }), print: () => {} });
      expect(existsSync(join(r.resultsDir, "metrics.arrow"))).to.equal(true);
      expect(r.outputs.has("extract")).to.equal(false);
      expect(readdirSync(join(root, "data"))).to.deep.equal(["MicroLens-tiny_pairs.csv"]);
    });
  }
});
