// The train stage: fit the recommender (worker op `train`, or torchrun over several GPUs) and keep
// its best weights. It ranks no users (`write_ranks: false`): the rank stage does, in shards.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { isPopularity } from "../dataset-source.js";
import { trainWithTorchrun } from "../torchrun.js";
import { storeDir, type PipelineStage } from "./stage.js";

export const trainStage: PipelineStage = {
  name: "train",
  after: ["split", "extract"],
  version: 1,
  skip: (c) => (isPopularity(c) ? "popularity ranking needs no training" : undefined),
  keyParts: (c) => ({ recommender: c.recommender, train: c.train }),
  async run(ctx) {
    const spec = {
      run_dir: ctx.dir,
      split_dir: ctx.inputs.split!.dir,
      store: storeDir(ctx.inputs),
      recommender: ctx.config.recommender,
      train: ctx.config.train,
      resume: true, // a rerun after an interruption continues from checkpoint.pt in this folder
      write_ranks: false, // the rank stage ranks user shards over all workers
      device: "auto",
    };
    const devices = ctx.config.workers.devices;
    let summary: Record<string, unknown>;
    if (devices.length > 1) {
      // the workers may hold the backbone on these GPUs from extraction: free them for DDP (restarted on demand)
      await ctx.resources.close();
      summary = await trainWithTorchrun({ dir: ctx.dir, spec, devices, threads: ctx.config.workers.threads, progress: ctx.progress, signal: ctx.signal });
    } else {
      const pool = await ctx.resources.pool();
      // one process on this host (its checkpoints are here); if its worker dies, a new worker
      // continues from checkpoint.pt (resume: true), bitwise as if uninterrupted on CPU (train/loop.py)
      const r = await pool.call("train", { ...spec, threads: ctx.resources.soloThreads }, {
        where: "local",
        attempts: pool.maxAttempts,
        retryNote: "resuming from its last checkpoint",
        log: ctx.log,
        onProgress: (p) => ctx.progress({ done: p.done, total: p.total, unit: p.unit, message: p.message }),
      });
      summary = r.result;
    }
    const publish = ["train_log.arrow", "epochs.arrow", "gates.arrow"].filter((f) => existsSync(join(ctx.dir, f)));
    ctx.log(`best valid HR@10 ${Number(summary.best_valid_hr10).toFixed(4)} at epoch ${String(summary.best_epoch)}`);
    return { summary, publish };
  },
};
