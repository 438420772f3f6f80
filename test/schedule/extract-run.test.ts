import { expect } from "chai";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runExtractStages } from "../../ts/schedule/extract-run.js";
import { Reporter } from "../../ts/schedule/progress.js";

describe("runExtractStages (lo-exp extract CONFIG): data → split → extract, cached", function () {
  this.timeout(120_000);
  let tmp: string;
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), "lo-extract-cli-"));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it("extracts the tiny synthetic catalogue with the tiny backbone, then answers from the cache", async () => {
    const sets = [
      `cache_dir=${join(tmp, "cache")}`,
      "dataset.synthetic.preset=tiny",
      "workers.count=1",
      "extract.frames=4",
      "extract.prompts=[\"Describe this video.\"]",
    ];
    const quiet = () => new Reporter({ mode: "json", write: () => undefined });
    const first = await runExtractStages("configs/quickstart.yaml", { sets, reporter: quiet() });
    expect(first.cached).to.equal(false);
    const manifest = JSON.parse(readFileSync(join(first.store, "manifest.json"), "utf8")) as Record<string, unknown>;
    expect(manifest.complete).to.equal(true);
    expect(manifest.items).to.equal(first.meta.items);
    expect(manifest.frames).to.equal(4);
    expect(manifest.configured_taps).to.deep.equal([0, 2, 4, 6]); // configs/linkedout.yaml: the paper's rule on the 8-layer tiny model
    expect(manifest.taps).to.deep.equal([0, 2, 4, 6, 7]); // + the last layer, for the last-layer ablation
    expect(manifest.prompts).to.deep.equal(["Describe this video."]);
    const again = await runExtractStages("configs/quickstart.yaml", { sets, reporter: quiet() });
    expect(again.cached).to.equal(true);
    expect(again.store).to.equal(first.store);
  });
});
