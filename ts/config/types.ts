// The resolved experiment config as TypeScript sees it. Validation against
// schemas/experiment.schema.json (with defaults filled in) is what makes these types true; the
// section interfaces follow the section schema files, which their owners fill in. A section whose
// schema is still open is typed as a read-only record until its interface is written here.

/** A section whose TypeScript shape is not pinned down yet: read it with a cast after checking. */
export type OpenSection = { readonly [key: string]: unknown };

/** schemas/config/workers.schema.json */
export interface WorkersConfig {
  /** CPU workers to start when `devices` is empty. */
  count: number;
  /** GPU devices (`cuda:0`, …), one worker each; empty = CPU workers. */
  devices: string[];
  /** torch intra-op threads per worker. */
  threads: number;
  /** workers on other hosts, reached over CURVE beside the local ones (paths absolute once resolved) */
  remote: RemoteWorkerConfig[];
}

/** schemas/config/workers.schema.json `remote[]` */
export interface RemoteWorkerConfig {
  endpoint: string;
  server_public_key: string;
  client_keys: string;
}

/** schemas/config/dataset.schema.json (docs/data.md) */
export interface DatasetConfig extends OpenSection {
  source: "synthetic" | "microlens";
  /** MicroLens directory (absolute once resolved; "" = unset) */
  dir: string;
  /** "auto" or a variant name (50k, 100k, synth) */
  variant: string;
  pairs: "auto" | "csv" | "tsv";
  on_bad_row: "error" | "skip";
  on_missing_video: "error" | "skip" | "keep";
  synthetic: {
    preset: "tiny" | "default" | "10k";
    /** users/items/topics: 0 = the preset's */
    users: number;
    items: number;
    topics: number;
    seed: number;
    cold_share: number;
    width: number;
    height: number;
    fps: number;
    codec: "mpeg4" | "libx264";
  };
}
export type ModelConfig = OpenSection;
export type ExtractConfig = OpenSection;
export type RecommenderConfig = OpenSection;
export type TrainConfig = OpenSection;
/** schemas/config/eval.schema.json (docs/data.md, "Metrics") */
export interface EvalConfig extends OpenSection {
  /** cut-offs for HR@K / NDCG@K */
  ks: number[];
  /** cold-start slice: train_count ≤ cold_max */
  cold_max: number;
  /** long-tail slice: outside the items making this share of training interactions */
  long_tail_share: number;
}
export type ServeConfig = OpenSection;

/** schemas/experiment.schema.json, after defaults. */
export interface ExperimentConfig {
  $schema: string;
  /** always "" once resolved: the chain has been merged in */
  extends: string;
  name: string;
  /** absolute; stage outputs live in <cache_dir>/<stage>/<key>/ */
  cache_dir: string;
  /** absolute; a run writes <results_dir>/<name>/ */
  results_dir: string;
  /** any failed item (an undecodable video) makes `lo-exp run` exit non-zero */
  strict: boolean;
  /** `popularity`: the Pop baseline, no training */
  ranking: "model" | "popularity";
  dataset: DatasetConfig;
  model: ModelConfig;
  extract: ExtractConfig;
  recommender: RecommenderConfig;
  train: TrainConfig;
  eval: EvalConfig;
  serve: ServeConfig;
  workers: WorkersConfig;
}

/** The top-level sections, in pipeline order. */
export const SECTIONS = ["dataset", "model", "extract", "recommender", "train", "eval", "serve", "workers"] as const;
export type SectionName = (typeof SECTIONS)[number];
