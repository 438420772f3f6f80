// Datasets: the MicroLens loader, the official split, Table 1 statistics, the synthetic dataset, sharding.
export { loadMicroLens, findMicroLensFiles, findVariants, warningTotal } from "./microlens.js";
export type {
  LoadOptions,
  BadRowPolicy,
  DuplicatePolicy,
  MissingVideoPolicy,
  PairsFormat,
  Interaction,
  MicroLensDataset,
  MicroLensFiles,
  DataWarning,
  WarningKind,
} from "./microlens.js";
export { officialSplit, checkUsersLeft, writeSplit, splitDataset, readSplit, splitTables, userSequences, catalogueIndex, PROTOCOL } from "./split.js";
export type { OfficialSplit, SplitOptions, SplitCounts, SplitManifest, CatalogueItem, TrainRow, EvalRow } from "./split.js";
export { datasetStats, statsRows, formatStats } from "./stats.js";
export type { DatasetStats } from "./stats.js";
export { synthesizeDataset, planSynthetic, synthCsvs, synthSideCsv, resolveSynthOptions, synthTopics, SYNTH_DEFAULTS, SYNTH_PRESETS, SYNTH_SIDE_COLUMNS, SYNTH_VARIANT } from "./synth.js";
export { readSideFile, sideChannelDigest, sideChannelValues, sideFilePath } from "./side.js";
export type { SideFile } from "./side.js";
export type { SynthOptions, SynthPreset, SynthPlan, SynthResult, SynthProgress, RenderWorker, ResolvedSynthOptions, Topic, VideoSpec, VideoCodec } from "./synth.js";
export { shardIds, shardOf } from "./shard.js";
export type { ShardManifest, ShardOptions } from "./shard.js";
export { compareIds, sortIds } from "./ids.js";
export { DataError } from "./errors.js";
export { readCsv, csvField } from "./csv.js";
export { readArrowFile, writeArrowFile } from "./arrow-io.js";
