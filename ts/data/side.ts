// Per-item side channels (paper §3.1: "optional side channels s (ASR transcripts, metadata, tags)"):
// an optional CSV in the dataset folder beside the pairs file,
//   MicroLens-<variant>_side.csv   header `item,<channel>,<channel>,…`, one row per item (RFC 4180
//                                  quoting: transcripts may hold commas, quotes and newlines)
// Each channel named in `extract.side_channels` is a column of it, except `title`, which comes from the
// titles file as published. An empty cell, or an item without a row, is an absent value: the prompt
// leaves that line out (py/linkedout/extract/prompts.py renders the lines).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { contentHash } from "../util/fs.js";
import { CsvSyntaxError, readCsv } from "./csv.js";
import { NotUtf8Error, readUtf8File } from "../util/text.js";
import { DataError } from "./errors.js";

/** Columns a side file may not have: the row key, the item's video path, and the titles file's channel. */
const RESERVED = new Set(["video", "title"]);

export interface SideFile {
  path: string;
  /** channel columns in file order (the `item` column excluded) */
  columns: string[];
  /** item → channel → non-empty value */
  values: Map<string, Map<string, string>>;
}

export function sideFilePath(dir: string, variant: string): string {
  return join(dir, `MicroLens-${variant}_side.csv`);
}

/** Read a side file; errors name the file and line. */
export function readSideFile(path: string): SideFile {
  let text: string;
  try {
    text = readUtf8File(path);
  } catch (err) {
    if (err instanceof NotUtf8Error) throw new DataError(err.message);
    throw new DataError(`${path}: cannot read (${(err as Error).message})`);
  }
  let columns: string[] | null = null;
  const values = new Map<string, Map<string, string>>();
  const firstLine = new Map<string, number>();
  try {
    for (const { fields, line } of readCsv(text)) {
      if (!columns) {
        const names = fields.map((f) => f.trim());
        if (names[0]?.toLowerCase() !== "item") throw new DataError(`${path}:${line}: the header must start with 'item' (got '${fields.join(",")}')`);
        columns = names.slice(1);
        const bad = columns.find((c) => !c || RESERVED.has(c.toLowerCase()) || c.toLowerCase() === "item");
        if (bad !== undefined) throw new DataError(`${path}:${line}: column '${bad}' is not allowed (titles come from the titles file; names must be non-empty and unique)`);
        const dup = columns.find((c, i) => columns!.indexOf(c) !== i);
        if (dup !== undefined) throw new DataError(`${path}:${line}: column '${dup}' appears twice`);
        continue;
      }
      if (fields.length !== columns.length + 1) throw new DataError(`${path}:${line}: expected ${columns.length + 1} fields (item,${columns.join(",")}), got ${fields.length}`);
      const item = fields[0]!.trim();
      if (!item) throw new DataError(`${path}:${line}: empty item id`);
      const prev = firstLine.get(item);
      if (prev !== undefined) throw new DataError(`${path}:${line}: item '${item}' already has a row (line ${prev})`);
      firstLine.set(item, line);
      const row = new Map<string, string>();
      columns.forEach((c, i) => {
        const v = fields[i + 1]!;
        if (v.trim()) row.set(c, v);
      });
      values.set(item, row);
    }
  } catch (err) {
    if (err instanceof CsvSyntaxError) throw new DataError(`${path}:${err.line}: ${err.message}`);
    throw err;
  }
  if (!columns) throw new DataError(`${path}: empty file (expected a header 'item,<channel>,…')`);
  return { path, columns, values };
}

/** The configured channels a side file must provide (all but `title`). */
function fileChannels(channels: readonly string[]): string[] {
  return channels.filter((c) => c !== "title");
}

/**
 * The side-channel values of `channels` for the dataset in `dir` (item → channel → value), checked:
 * a channel that is neither `title` nor a column of the side file is an error naming
 * `extract.side_channels`. No channel but `title`: no file is read.
 */
export function sideChannelValues(dir: string, variant: string, channels: readonly string[]): Map<string, Map<string, string>> {
  const wanted = fileChannels(channels);
  if (wanted.length === 0) return new Map();
  const path = sideFilePath(dir, variant);
  if (!existsSync(path)) {
    throw new DataError(`extract.side_channels: '${wanted[0]}' needs a side file ${path} (only title comes without one; docs/data.md)`);
  }
  const side = readSideFile(path);
  const unknown = wanted.find((c) => !side.columns.includes(c));
  if (unknown !== undefined) {
    throw new DataError(`extract.side_channels: '${unknown}' is not a column of ${path} (columns: ${side.columns.join(", ") || "none"})`);
  }
  const out = new Map<string, Map<string, string>>();
  for (const [item, row] of side.values) {
    const kept = new Map(wanted.filter((c) => row.has(c)).map((c) => [c, row.get(c)!] as const));
    if (kept.size) out.set(item, kept);
  }
  return out;
}

/** Content hash of the configured channels' values: what the side file adds to the prompts. */
export function sideChannelDigest(values: ReadonlyMap<string, ReadonlyMap<string, string>>): string {
  const rows = [...values].map(([item, row]) => [item, [...row]] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return contentHash(rows);
}
