// extract.side_channels (schemas/config/extract.schema.json): the side-file values the extraction
// prompt reads, what they add to the extraction key, and the catalogue the extractor sees.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Table, type Utf8, type Vector } from "apache-arrow";
import type { ExperimentConfig } from "../config/index.js";
import { findMicroLensFiles, readSplit, sideChannelDigest, sideChannelValues, SYNTH_SIDE_COLUMNS } from "../data/index.js";
import { DataError } from "../data/errors.js";
import { utf8Vector } from "../data/arrow-columns.js";
import { dataSource, usesContent } from "./dataset-source.js";
import type { ExtractItem } from "./extract.js";

/** extract.side_channels (schemas/config/extract.schema.json). */
function sideChannels(config: ExperimentConfig): readonly string[] {
  return config.extract.side_channels;
}

/**
 * Side-channel values of the configured channels, item → channel → value (ts/data/side.ts), for the
 * dataset a split was made from. Errors name `extract.side_channels` for a channel the data lacks.
 */
function sideValues(config: ExperimentConfig, datasetDir: string, variant: string): Map<string, Map<string, string>> {
  return sideChannelValues(datasetDir, variant, sideChannels(config));
}

/**
 * What the side file adds to the extraction key: a MicroLens folder's configured side-channel values
 * (so the key follows the prompt text, not unrelated columns). The synthetic set's side file follows
 * from its options, already in the key upstream; its channel names are checked here.
 * Called before any stage runs (checkBeforeRun) so an unknown channel stops a run before work starts.
 */
export function sideKey(config: ExperimentConfig): string | null {
  if (!usesContent(config)) return null;
  const src = dataSource(config);
  if (src.kind === "microlens") {
    const { variant } = findMicroLensFiles(src.dir, { variant: src.variant, pairs: src.pairs });
    return sideChannelDigest(sideValues(config, src.dir, variant));
  }
  const unknown = sideChannels(config).find((c) => c !== "title" && !SYNTH_SIDE_COLUMNS.includes(c));
  if (unknown !== undefined) {
    throw new DataError(`extract.side_channels: '${unknown}' is not a column of the synthetic dataset's side file (columns: ${SYNTH_SIDE_COLUMNS.join(", ")})`);
  }
  return null;
}

/** Checks a run makes before any stage starts: side channels the data lacks. */
export function checkBeforeRun(config: ExperimentConfig): void {
  sideKey(config);
}

/** Extract items as an Arrow table (item, video, title, one utf8 column per side channel; "" = absent). */
export function extractItemsTable(items: readonly ExtractItem[], channels: readonly string[]): Table {
  const columns: Record<string, Vector<Utf8>> = {
    item: utf8Vector(items.map((it) => it.item)),
    video: utf8Vector(items.map((it) => it.video)),
    title: utf8Vector(items.map((it) => String(it.title ?? ""))),
  };
  for (const ch of channels) if (ch !== "title") columns[ch] = utf8Vector(items.map((it) => (it[ch] == null ? "" : String(it[ch]))));
  return new Table(columns);
}

/** The catalogue as the extractor sees it: video path, title and the configured side channels. */
export function extractItems(config: ExperimentConfig, splitDir: string): ExtractItem[] {
  const manifest = JSON.parse(readFileSync(join(splitDir, "split.json"), "utf8")) as { source?: { dir?: string; variant?: string } };
  const source = manifest.source ?? {};
  const values = source.dir && source.variant ? sideValues(config, source.dir, source.variant) : new Map<string, Map<string, string>>();
  return readSplit(splitDir).items.map((it) => ({ item: it.item, video: it.video, title: it.title, ...Object.fromEntries(values.get(it.item) ?? []) }));
}
