import { expect } from "chai";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { extractConfig } from "../../ts/schedule/extract-cli.js";
import { Reporter } from "../../ts/schedule/progress.js";

describe("extractConfig (lo-exp extract CONFIG): data → split → extract, cached", function () {
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
    const first = await extractConfig("configs/quickstart.yaml", { sets, reporter: quiet() });
    expect(first.cached).to.equal(false);
    const manifest = JSON.parse(readFileSync(join(first.store, "manifest.json"), "utf8")) as Record<string, unknown>;
    expect(manifest.complete).to.equal(true);
    expect(manifest.items).to.equal(first.meta.items);
    expect(manifest.frames).to.equal(4);
    expect(manifest.taps).to.deep.equal([1, 3, 5, 7]); // tap_every 2 on the 8-layer tiny model (configs/linkedout.yaml)
    expect(manifest.prompts).to.deep.equal(["Describe this video."]);
    const again = await extractConfig("configs/quickstart.yaml", { sets, reporter: quiet() });
    expect(again.cached).to.equal(true);
    expect(again.store).to.equal(first.store);
  });
});
