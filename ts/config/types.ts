// The resolved experiment config as TypeScript sees it. The types are generated from the schemas
// (ts/config/generated/experiment.ts, `npm run gen:config`); validation against
// schemas/experiment.schema.json with defaults filled in is what makes them true.
import type { ExperimentConfig, WorkersConfig } from "./generated/experiment.js";

export type {
  DatasetConfig,
  EvalConfig,
  ExperimentConfig,
  ExtractConfig,
  ModelConfig,
  RecommenderConfig,
  ServeConfig,
  TrainConfig,
  WorkersConfig,
} from "./generated/experiment.js";

/** schemas/config/workers.schema.json `remote[]` */
export type RemoteWorkerConfig = WorkersConfig["remote"][number];

/** The top-level sections, in pipeline order. */
export const SECTIONS = ["dataset", "model", "extract", "recommender", "train", "eval", "serve", "workers"] as const satisfies readonly (keyof ExperimentConfig)[];
export type SectionName = (typeof SECTIONS)[number];
