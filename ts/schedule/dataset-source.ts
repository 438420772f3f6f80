// The dataset section (schemas/config/dataset.schema.json) read in one place: where the data comes
// from, how the split loads it, and which rankers read video content.
import type { ExperimentConfig } from "../config/index.js";
import type { LoadOptions, SynthOptions } from "../data/index.js";

/** Where the data comes from: the built-in synthetic generator, or a MicroLens folder. */
export type DataSource =
  | { kind: "synthetic"; options: Omit<SynthOptions, "out"> }
  | {
      kind: "microlens";
      dir: string;
      variant: string;
      pairs: "auto" | "csv" | "tsv";
      onBadRow: "error" | "skip";
      onDuplicate: "keep" | "error" | "skip";
      onMissingVideo: "error" | "skip" | "keep";
    };

/** The dataset section, read in one place (schemas/config/dataset.schema.json). */
export function dataSource(config: ExperimentConfig): DataSource {
  const d = config.dataset;
  if (d.source === "synthetic") {
    const s = d.synthetic;
    return {
      kind: "synthetic",
      options: {
        preset: s.preset,
        users: s.users,
        items: s.items,
        topics: s.topics,
        seed: s.seed,
        coldShare: s.cold_share,
        width: s.width,
        height: s.height,
        fps: s.fps,
        codec: s.codec,
      },
    };
  }
  return {
    kind: "microlens",
    dir: d.dir,
    variant: d.variant,
    pairs: d.pairs,
    onBadRow: d.on_bad_row,
    onDuplicate: d.on_duplicate,
    onMissingVideo: d.on_missing_video,
  };
}

/** The Pop baseline: no training, no content. */
export function isPopularity(config: ExperimentConfig): boolean {
  return config.ranking === "popularity";
}

/** Does this config read video content (so needs the extraction)? */
export function usesContent(config: ExperimentConfig): boolean {
  if (isPopularity(config)) return false;
  return config.recommender.item_content;
}

/**
 * How the split stage loads a MicroLens folder (also what the checks before a run load). Runs
 * without video content need no videos (docs/data.md).
 */
export function splitOptions(config: ExperimentConfig): LoadOptions {
  const src = dataSource(config);
  if (src.kind !== "microlens") return {}; // the synthetic set always has its videos
  const needVideos = usesContent(config);
  const { variant, pairs, onBadRow, onDuplicate, onMissingVideo } = src;
  return { variant, pairs, onBadRow, onDuplicate, onMissingVideo, ...(needVideos ? {} : { needVideos }) };
}
