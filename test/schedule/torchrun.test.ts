import { expect } from "chai";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { splitDataset, synthesizeDataset } from "../../ts/data/index.js";
import type { ProgressUpdate } from "../../ts/schedule/progress.js";
import { stopLeftoverTorchrun, trainWithTorchrun } from "../../ts/schedule/torchrun.js";

describe("training with torchrun (ts/schedule/torchrun)", function () {
  this.timeout(300_000);
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), "lo-torchrun-"));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it("runs DDP over two CPU processes, forwarding rank 0's epochs as progress and returning the summary", async () => {
    // a tiny split without videos: an ID-only model needs none
    await synthesizeDataset({ out: join(root, "data"), preset: "tiny", videos: false }, null);
    splitDataset(join(root, "data"), join(root, "split"), { onMissingVideo: "keep" });
    const dir = join(root, "run");
    mkdirSync(dir);
    const seen: ProgressUpdate[] = [];
    const summary = await trainWithTorchrun({
      dir,
      spec: {
        run_dir: dir,
        split_dir: join(root, "split"),
        store: null,
        recommender: { item_content: false, item_id_embeddings: true, d_z: 16, ranker: { name: "sasrec", layers: 1, heads: 2 } },
        train: { epochs: 2, batch_size: 16 },
        resume: true,
        write_ranks: false,
      },
      devices: ["cpu", "cpu"],
      threads: 1,
      progress: (p) => seen.push(p),
      signal: new AbortController().signal,
    });
    expect(seen.map((p) => [p.done, p.total])).to.deep.equal([
      [1, 2],
      [2, 2],
    ]);
    expect(summary).to.deep.include({ world_size: 2, epochs_done: 2 });
    for (const f of ["best.pt", "checkpoint.pt", "train_log.arrow", "train-spec.json"]) expect(existsSync(join(dir, f)), f).to.equal(true);
    expect(existsSync(join(dir, "torchrun.pid"))).to.equal(false);
  });

  it("stops a process group left behind by a killed orchestrator before resuming", async () => {
    const dir = join(root, "leftover");
    mkdirSync(dir);
    const stray = spawn("sleep", ["120"], { detached: true, stdio: "ignore" });
    writeFileSync(join(dir, "torchrun.pid"), `${stray.pid}\n`);
    const exited = new Promise((r) => stray.once("exit", (_c, sig) => r(sig)));
    expect(await stopLeftoverTorchrun(dir)).to.equal(stray.pid);
    expect(await exited).to.equal("SIGTERM");
    expect(existsSync(join(dir, "torchrun.pid"))).to.equal(false);
    expect(await stopLeftoverTorchrun(dir)).to.equal(null); // nothing left to stop
  });
});
