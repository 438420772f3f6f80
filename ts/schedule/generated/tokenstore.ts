// generated, do not edit: `npm run gen:config` (scripts/gen-ops.ts) writes this file from
// schemas/tokenstore.manifest.schema.json and schemas/stages/tokenstore.shard-summary.schema.json.
/* eslint-disable */

export interface TokenStoreFiles {
  manifest: TokenStoreManifest;
  shard_summary: ShardSummary;
}
/**
 * manifest.json of a TokenStore directory tokens/<key>/ (docs/architecture.md, docs/extraction.md). Written once by finalize_store when every shard is committed (linkedout.store.token_store).
 */
export interface TokenStoreManifest {
  /**
   * Format name and version.
   */
  format: "linkedout.tokenstore/1";
  /**
   * Content hash of (dataset, model, prompt bank, frames, taps, M, max_new_tokens); the directory name.
   */
  key: string;
  /**
   * model.path the features were extracted with (local directory or hub id).
   */
  model: string;
  /**
   * Dataset identity (name or content hash of items.arrow) the store was extracted from.
   */
  dataset: string;
  /**
   * 0-based decoder layer indices whose output (before the final norm) is stored, increasing.
   *
   * @minItems 1
   */
  taps: number[];
  /**
   * The layers extract.taps / tap_every named, a subset of taps (which adds the last layer for the last-layer ablation): what the MoE fuses under recommender.layers = tapped. Absent in older stores: all taps.
   */
  configured_taps?: number[];
  /**
   * Decoder layers of the backbone's language model.
   */
  num_layers: number;
  /**
   * Hidden size d of the language model.
   */
  d_model: number;
  /**
   * M: old tokens after ToMe bipartite merging (per tap).
   */
  merged_tokens: number;
  /**
   * N_new: generated tokens with a captured hidden state per (item, prompt) = max_new_tokens - 1 (the last sampled token is never fed through the decoder).
   */
  new_tokens: number;
  /**
   * Tokens generated per (item, prompt); min_new_tokens was set equal.
   */
  max_new_tokens: number;
  /**
   * The prompt bank; the shard column `prompt` indexes it.
   *
   * @minItems 1
   */
  prompts: string[];
  /**
   * Item columns inserted into the prompt (e.g. title).
   */
  side_channels: string[];
  /**
   * Frames sampled uniformly per video.
   */
  frames: number;
  /**
   * What the uint16 bits of the float columns are.
   */
  dtype: "float16" | "bfloat16";
  /**
   * Shards the catalogue was split into (0 before any shard finished).
   */
  num_shards: number;
  /**
   * Every shard 0..num_shards-1 has finished.
   */
  complete: boolean;
  /**
   * Items with features (failed items not counted).
   */
  items: number;
  /**
   * Finished shard files, by shard index.
   */
  shards: {
    /**
     * File name in the store directory.
     */
    file: string;
    /**
     * Rows = items x prompts.
     */
    rows: number;
    /**
     * Hex sha256 of the file.
     */
    sha256: string;
  }[];
  /**
   * Items whose extraction failed, with the reason (missing, empty or corrupt video, ...).
   */
  failed: {
    item: string;
    reason: string;
  }[];
}
/**
 * shard-<i>.json of a TokenStore directory: written when shard i is committed (py/linkedout/store/token_store/shard_commit.py), read by finalize_store and by the scheduler (ts/schedule/tokenstore-files.ts) to skip finished shards. The file names of a store are the annotations: `x-file` (this summary), `x-data-file` (the committed shard), `x-part-file` (an unfinished part of a shard being extracted), `{shard}`/`{part}` being decimal integers; the manifest is schemas/tokenstore.manifest.schema.json.
 */
export interface ShardSummary {
  /**
   * This shard's index.
   */
  shard: number;
  /**
   * The committed shard file (x-data-file).
   */
  file: string;
  /**
   * Rows = items x prompts.
   */
  rows: number;
  /**
   * Hex sha256 of the shard file.
   */
  sha256: string;
  /**
   * Items with features, in shard order.
   */
  items: string[];
  /**
   * Items whose extraction failed.
   */
  failed: {
    item: string;
    reason: string;
  }[];
  /**
   * Shards the catalogue is split into (every summary of a store agrees).
   */
  num_shards?: number;
  /**
   * Id of the writer attempt that committed the shard (fenced commits); absent in stores written before attempts.
   */
  attempt?: string;
}
