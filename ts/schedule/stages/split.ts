// The split stage: leave-one-out train/valid/test files and the item catalogue (ts/data/split.ts).
import { join } from "node:path";
import { splitDataset } from "../../data/index.js";
import { splitOptions } from "../dataset-source.js";
import type { PipelineStage } from "./stage.js";

/** Absolute folder of the dataset a data stage output describes. */
function datasetDir(out: { dir: string; meta: Record<string, unknown> }): string {
  return out.meta.kind === "microlens" ? String(out.meta.dir) : join(out.dir, String(out.meta.dir));
}

export const splitStage: PipelineStage = {
  name: "split",
  after: ["data"],
  version: 1,
  keyParts: (c) => splitOptions(c),
  async run(ctx) {
    const dir = datasetDir(ctx.inputs.data!);
    const opts = splitOptions(ctx.config);
    const { split } = splitDataset(dir, ctx.dir, opts);
    ctx.log(`${split.counts.usersKept} users, ${split.counts.itemsKept} items, ${split.counts.trainSamples} training samples`);
    return { counts: split.counts };
  },
};
