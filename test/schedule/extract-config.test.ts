import { expect } from "chai";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildTinyModel, extractConfig } from "../../ts/schedule/extract-config.js";
import { startWorker, WorkerError } from "../../ts/worker/index.js";
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
    expect(manifest.configured_taps).to.deep.equal([0, 2, 4, 6]); // configs/linkedout.yaml: the paper's rule on the 8-layer tiny model
    expect(manifest.taps).to.deep.equal([0, 2, 4, 6, 7]); // + the last layer, for the last-layer ablation
    expect(manifest.prompts).to.deep.equal(["Describe this video."]);
    const again = await extractConfig("configs/quickstart.yaml", { sets, reporter: quiet() });
    expect(again.cached).to.equal(true);
    expect(again.store).to.equal(first.store);
  });

  it("lo-exp model tiny: builds a loadable model directory; bad sizes are a clear error", async () => {
    const out = join(tmp, "tiny");
    const worker = await startWorker({ device: "cpu", threads: 1 });
    try {
      const s = await buildTinyModel(out, { hidden: 32, layers: 3, image_size: 16, seed: 5 }, worker);
      expect(s.layers).to.equal(3);
      expect(s.hidden).to.equal(32);
      expect(s.patches_per_frame).to.equal(4); // (16 / 8)^2
      expect(s.tokens_per_frame).to.equal(1); // ceil(2 / 2)^2
      for (const f of ["config.json", "model.safetensors", "tokenizer.json", "processor_config.json", "chat_template.jinja"]) {
        expect(existsSync(join(out, f)), f).to.equal(true);
      }
      const cfg = JSON.parse(readFileSync(join(out, "config.json"), "utf8")) as { text_config: { num_hidden_layers: number } };
      expect(cfg.text_config.num_hidden_layers).to.equal(3);
      let err: unknown;
      try {
        await buildTinyModel(join(tmp, "bad"), { hidden: 30, layers: 2, image_size: 16, seed: 0 }, worker);
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(WorkerError);
      expect((err as Error).message).to.match(/hidden/);
    } finally {
      await worker.close();
    }
  });
});
