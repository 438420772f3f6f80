// The LinkedOut pipeline as a stage graph:
//   data → split → extract → train → embed → rank → metrics → report
// Each stage (one file under ./stages/) names the config slice it reads (its key) and calls the
// owning module: ts/data, ts/schedule/extract.ts, the worker ops `train`/`embed`/`rank`/`plot_report`,
// ts/metrics. A stage lists the files it produced under `publish` in its result; the run copies them
// into results/<name>/ (ts/schedule/run.ts).
import { dataStage } from "./stages/data.js";
import { embedStage } from "./stages/embed.js";
import { extractStage } from "./stages/extract.js";
import { metricsStage } from "./stages/metrics.js";
import { modelRankStage, popRankStage } from "./stages/rank.js";
import { reportStage } from "./stages/report.js";
import { splitStage } from "./stages/split.js";
import type { PipelineStage } from "./stages/stage.js";
import { trainStage } from "./stages/train.js";

export type { PipelineStage } from "./stages/stage.js";

export function pipelineStages(): PipelineStage[] {
  return [dataStage, splitStage, extractStage, trainStage, embedStage, popRankStage, modelRankStage, metricsStage, reportStage];
}
