import { expect } from "chai";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildTinyModel } from "../../ts/schedule/tiny-model.js";
import { startWorker, WorkerError } from "../../ts/worker/index.js";

describe("buildTinyModel (lo-exp model tiny)", function () {
  this.timeout(120_000);
  let tmp: string;
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), "lo-tiny-model-"));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it("builds a loadable model directory; bad sizes are a clear error", async () => {
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
