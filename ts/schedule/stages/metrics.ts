// The metrics stage: HR/NDCG and the cold/long-tail slices of ranks.arrow (ts/metrics).
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { ExperimentConfig } from "../../config/index.js";
import { computeMetrics, type MetricsResult } from "../../metrics/index.js";
import { writeFileAtomic } from "../../util/fs.js";
import { metricValues, writeMetricsArrow } from "../results.js";
import type { PipelineStage } from "./stage.js";

/** eval section → computeMetrics options. */
function evalOptions(config: ExperimentConfig): { ks: number[]; coldMax: number; longTailShare: number } {
  return { ks: config.eval.ks, coldMax: config.eval.cold_max, longTailShare: config.eval.long_tail_share };
}

/** Where this run's ranks.arrow is: the rank stage (trained model) or the pop-rank stage. */
function ranksPath(inputs: Readonly<Record<string, { dir: string }>>): string {
  for (const s of ["rank", "pop-rank"]) {
    const dir = inputs[s]?.dir;
    if (dir && existsSync(join(dir, "ranks.arrow"))) return join(dir, "ranks.arrow");
  }
  throw new Error("no ranks.arrow from the rank or pop-rank stage");
}

export const metricsStage: PipelineStage = {
  name: "metrics",
  after: ["split", "pop-rank", "rank"],
  version: 1,
  keyParts: (c) => evalOptions(c),
  async run(ctx) {
    const m: MetricsResult = computeMetrics(ranksPath(ctx.inputs), join(ctx.inputs.split!.dir, "items.arrow"), evalOptions(ctx.config));
    writeMetricsArrow(join(ctx.dir, "metrics.arrow"), metricValues(m), ctx.config.name);
    writeFileAtomic(join(ctx.dir, "metrics.json"), `${JSON.stringify(m, null, 2)}\n`);
    return { publish: ["metrics.arrow", "metrics.json"] };
  },
};
