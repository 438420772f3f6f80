import { expect } from "chai";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loExp, REPO_ROOT } from "../helpers.js";

describe("lo-exp bench gpu --tiny --json (the GPU script's code paths at toy sizes on the CPU)", function () {
  this.timeout(600_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "lo-bench-gpu-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("runs extraction with hooks, both training steps and the top-K, and writes JSON + a markdown table", async () => {
    const out = join(dir, "gpu.json");
    const { code, stdout, stderr } = await loExp(["bench", "gpu", "--tiny", "--json", "--out", out], REPO_ROOT, 600_000);
    expect(code, stderr).to.equal(0);
    const r = JSON.parse(stdout) as Record<string, unknown>;
    for (const k of ["extract_s_per_video", "hook_overhead", "train_step_s_resident", "train_step_s_from_store", "topk_1m_ms", "io_fraction"]) {
      expect(r[k], k).to.be.a("number");
    }
    expect(r.extract_s_per_video as number).to.be.greaterThan(0);
    expect(r.train_step_s_from_store as number).to.be.greaterThan(0);
    expect(r.tiny).to.equal(true);
    expect((r.extract_rows as { batch_size: number; prompts: number }[]).map((x) => [x.batch_size, x.prompts])).to.deep.equal([[2, 2], [4, 2]]);
    // every 4th layer from the first (0, 4, 8, 12) of the 16-layer toy model, and its last layer (stored for the last-layer ablation)
    expect(r.extract_taps).to.deep.equal([0, 4, 8, 12, 15]);
    expect(JSON.parse(readFileSync(out, "utf8"))).to.deep.equal(r);
    expect(readFileSync(join(dir, "gpu.md"), "utf8")).to.match(/\| train step, features from the on-disk TokenStore +\| [0-9.]+ s/);
    expect(stderr).to.match(/\[bench gpu +[0-9.]+s\] topk: 64 users x 100000 items/); // progress lines, one per step
  });
});
