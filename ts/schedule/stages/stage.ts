// What a pipeline stage is, and the upstream outputs several stages read.
import { join } from "node:path";
import type { ExperimentConfig } from "../../config/index.js";
import type { StageDef, StageOutput } from "../graph.js";
import type { RunResources } from "../resources.js";

export type PipelineStage = StageDef<ExperimentConfig, RunResources>;

/** The TokenStore folder an extract stage output holds (null for ID-only configs). */
export function storeDir(inputs: Readonly<Record<string, StageOutput>>): string | null {
  const ex = inputs.extract;
  return ex ? join(ex.dir, String(ex.meta.store ?? "store")) : null;
}
