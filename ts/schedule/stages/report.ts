// The report stage: training curves and gate plots (worker op `plot_report`).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { isPopularity } from "../dataset-source.js";
import type { PipelineStage } from "./stage.js";

export const reportStage: PipelineStage = {
  name: "report",
  after: ["train", "metrics"],
  version: 2,
  skip: (c) => (isPopularity(c) ? "nothing trained to plot" : undefined),
  keyParts: (c) => ({ title: c.name }),
  async run(ctx) {
    const train = ctx.inputs.train!.dir;
    const gates = join(train, "gates.arrow");
    const log = join(train, "train_log.arrow");
    const epochs = join(train, "epochs.arrow");
    const pool = await ctx.resources.pool();
    const r = await pool.call(
      "plot_report",
      {
        out_dir: ctx.dir,
        gates_path: existsSync(gates) ? gates : "",
        train_log_path: existsSync(log) ? log : "",
        epochs_path: existsSync(epochs) ? epochs : "",
        title: ctx.config.name,
      },
      { log: ctx.log },
    );
    const written = (r.result.written as string[] | undefined) ?? [];
    return { publish: written, contribution_percent: r.result.contribution_percent ?? null };
  },
};
