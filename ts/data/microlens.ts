// The MicroLens loader: finds a variant's files in a directory, reads interactions and titles, and
// checks that every interacted item has a video. File layout (MicroLens as published, and the
// built-in synthetic set, which uses variant "synth"):
//   MicroLens-<v>_pairs.csv     user,item,timestamp (epoch ms), one interaction per line
//   MicroLens-<v>_pairs.tsv     user<TAB>item item …  (time-ordered; used when there is no .csv)
//   MicroLens-50k_titles.csv    item,title (with header) — or MicroLens-100k_title_en.csv (no header)
//   MicroLens-<v>_videos/<item>.mp4,  MicroLens-<v>_covers/<item>.jpg
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { CsvSyntaxError, readCsv } from "./csv.js";
import { findUtf8Fault, NotUtf8Error, readUtf8File } from "../util/text.js";
import { DataError } from "./errors.js";
import { sortIds } from "./ids.js";

export type BadRowPolicy = "error" | "skip";
/**
 * Repeated pairs: in the .tsv a user with a second line, in the .csv a row repeating (user, item,
 * timestamp). `keep` does what MicroLens's own loader (`read_behaviors`) does: a user's later .tsv line
 * replaces the earlier one in the split (the split applies it, see officialSplit); a repeated .csv row
 * is a repeated interaction, as a .tsv would list it. `error` stops naming both lines; `skip` keeps the
 * first and counts a warning.
 */
export type DuplicatePolicy = "keep" | "error" | "skip";
/** What to do with an interacted item that has no video file: stop, drop its interactions, or keep it (extraction will report it). */
export type MissingVideoPolicy = "error" | "skip" | "keep";
export type PairsFormat = "csv" | "tsv";

export interface LoadOptions {
  /** "auto" (the only variant in the directory), or e.g. "50k", "100k", "synth". Default "auto". */
  variant?: string;
  /** Which pairs file to read; "auto" prefers the .csv (it has timestamps). Default "auto". */
  pairs?: PairsFormat | "auto";
  /** Malformed pairs rows. Default "error". */
  onBadRow?: BadRowPolicy;
  /** Repeated users (.tsv) or rows (.csv). Default "keep" (MicroLens's loader). */
  onDuplicate?: DuplicatePolicy;
  /**
   * false: the caller reads no video content (ID-only and popularity runs), so a missing videos
   * folder is no error and `onMissingVideo: error` acts as `keep`. Default true.
   */
  needVideos?: boolean;
  /** Interacted items without `<item>.mp4`. Default "error". */
  onMissingVideo?: MissingVideoPolicy;
  /** How many warnings to keep verbatim (all are counted). Default 100. */
  maxWarnings?: number;
}

export interface Interaction {
  user: string;
  item: string;
  /** epoch ms (.csv), or the position in the user's line (.tsv) */
  timestamp: number;
  /** 1-based line of the pairs file it came from */
  line: number;
}

export type WarningKind = "bad_row" | "duplicate_row" | "missing_video" | "bad_title_row" | "duplicate_title";

export interface DataWarning {
  kind: WarningKind;
  file: string;
  /** 1-based line in `file`, where there is one */
  line: number | null;
  message: string;
}

export interface MicroLensFiles {
  pairs: string;
  pairsFormat: PairsFormat;
  /** null: no titles file (allowed) */
  titles: string | null;
  /** null: no videos directory */
  videos: string | null;
  covers: string | null;
}

export interface MicroLensDataset {
  dir: string;
  variant: string;
  files: MicroLensFiles;
  /** In file order, bad rows (policy skip) and items dropped for missing videos removed. */
  interactions: Interaction[];
  /** item → title, for items that have one */
  titles: Map<string, string>;
  /** item → absolute path of its .mp4, for interacted items that have one */
  videos: Map<string, string>;
  /** item → absolute path of its cover .jpg, where present */
  covers: Map<string, string>;
  /** interacted items kept without a video (policy keep), byte order */
  itemsWithoutVideo: string[];
  /** the first `maxWarnings` warnings */
  warnings: DataWarning[];
  /** every warning, counted by kind */
  warningCounts: Record<WarningKind, number>;
}

const PAIRS_RE = /^MicroLens-(.+)_pairs\.(csv|tsv)$/;
const TIMESTAMP_RE = /^[+-]?\d+(\.\d+)?$/;

/** The variants that have a pairs file in `dir`, sorted. */
export function findVariants(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    throw new DataError(`${dir}: not a readable directory`);
  }
  const found = new Set<string>();
  for (const n of names) {
    const m = PAIRS_RE.exec(n);
    if (m) found.add(m[1]!);
  }
  return [...found].sort();
}

/** Locate a variant's files (without reading them). */
export function findMicroLensFiles(dir: string, opts: Pick<LoadOptions, "variant" | "pairs"> = {}): { variant: string; files: MicroLensFiles } {
  dir = resolve(dir);
  const variants = findVariants(dir);
  let variant = opts.variant ?? "auto";
  if (variant === "auto") {
    if (variants.length === 0) throw new DataError(`${dir}: no pairs file (expected MicroLens-<variant>_pairs.csv or _pairs.tsv)`);
    if (variants.length > 1) throw new DataError(`${dir}: several MicroLens variants (${variants.join(", ")}); name one with dataset.variant`);
    variant = variants[0]!;
  }
  const csv = join(dir, `MicroLens-${variant}_pairs.csv`);
  const tsv = join(dir, `MicroLens-${variant}_pairs.tsv`);
  const want = opts.pairs ?? "auto";
  let pairs: string;
  let pairsFormat: PairsFormat;
  if (want === "tsv" || (want === "auto" && !existsSync(csv) && existsSync(tsv))) {
    pairs = tsv;
    pairsFormat = "tsv";
  } else {
    pairs = csv;
    pairsFormat = "csv";
  }
  if (!existsSync(pairs)) {
    const also = variants.length ? ` (variants here: ${variants.join(", ")})` : "";
    throw new DataError(`${pairs}: missing pairs file${also}`);
  }
  const titleCandidates = [join(dir, `MicroLens-${variant}_titles.csv`), join(dir, `MicroLens-${variant}_title_en.csv`)];
  const titles = titleCandidates.find((p) => existsSync(p)) ?? null;
  const isDir = (p: string) => existsSync(p) && statSync(p).isDirectory();
  const videos = join(dir, `MicroLens-${variant}_videos`);
  const covers = join(dir, `MicroLens-${variant}_covers`);
  return {
    variant,
    files: { pairs, pairsFormat, titles, videos: isDir(videos) ? videos : null, covers: isDir(covers) ? covers : null },
  };
}

class WarningLog {
  readonly warnings: DataWarning[] = [];
  readonly counts: Record<WarningKind, number> = { bad_row: 0, duplicate_row: 0, missing_video: 0, bad_title_row: 0, duplicate_title: 0 };
  constructor(private readonly max: number) {}
  add(w: DataWarning): void {
    this.counts[w.kind] += 1;
    if (this.warnings.length < this.max) this.warnings.push(w);
  }
}

function readText(path: string): string {
  try {
    return readUtf8File(path);
  } catch (err) {
    if (err instanceof NotUtf8Error) throw new DataError(err.message);
    throw new DataError(`${path}: cannot read (${(err as Error).message})`);
  }
}

function readPairsCsv(path: string, policy: BadRowPolicy, dupPolicy: DuplicatePolicy, log: WarningLog): Interaction[] {
  const out: Interaction[] = [];
  const seen = new Map<string, number>();
  const bad = (line: number, kind: WarningKind, message: string) => {
    if ((kind === "duplicate_row" ? dupPolicy : policy) === "error") throw new DataError(`${path}:${line}: ${message}`);
    log.add({ kind, file: path, line, message });
  };
  let header = true;
  const text = readText(path);
  // The files end every line with a newline; a last line without one was most likely cut short (a
  // truncated copy), and a cut row can still parse (`u07,n,12` cut to `u07,n,1`): report it.
  const cutLine = text.length > 0 && !text.endsWith("\n") ? text.split("\n").length : -1;
  try {
    for (const { fields, line } of readCsv(text)) {
      if (line === cutLine && !header) {
        bad(line, "bad_row", "the last line has no line end, so the file looks cut short (a complete file ends with a newline; if this one is whole, add it)");
        continue;
      }
      if (header) {
        header = false;
        const got = fields.map((f) => f.trim().toLowerCase()).join(",");
        // MicroLens's readme names the columns userID, videoID, timestamp; the files say user,item,timestamp.
        if (got !== "user,item,timestamp" && got !== "userid,videoid,timestamp") {
          throw new DataError(`${path}:${line}: wrong header '${fields.join(",")}' (expected 'user,item,timestamp')`);
        }
        continue;
      }
      if (fields.length !== 3) {
        bad(line, "bad_row", `expected 3 fields (user,item,timestamp), got ${fields.length}`);
        continue;
      }
      const user = fields[0]!.trim();
      const item = fields[1]!.trim();
      const ts = fields[2]!.trim();
      if (!user) {
        bad(line, "bad_row", "empty user id");
        continue;
      }
      if (!item) {
        bad(line, "bad_row", "empty item id");
        continue;
      }
      if (!TIMESTAMP_RE.test(ts)) {
        bad(line, "bad_row", `non-numeric timestamp '${ts}'`);
        continue;
      }
      if (Math.abs(Number(ts)) > Number.MAX_SAFE_INTEGER) {
        // beyond 2^53 neighbouring timestamps become equal as numbers and the time order would change silently
        bad(line, "bad_row", `timestamp '${ts}' out of range (|t| ≤ 2^53 - 1)`);
        continue;
      }
      const key = `${user}\u0000${item}\u0000${ts}`;
      const first = seen.get(key);
      if (first !== undefined && dupPolicy !== "keep") {
        bad(line, "duplicate_row", `duplicate row (same user, item and timestamp as line ${first})`);
        continue;
      }
      if (first === undefined) seen.set(key, line);
      out.push({ user, item, timestamp: Number(ts), line });
    }
  } catch (err) {
    if (err instanceof CsvSyntaxError) throw new DataError(`${path}:${err.line}: ${err.message}`);
    throw err;
  }
  if (header) throw new DataError(`${path}: empty file (expected header 'user,item,timestamp')`);
  return out;
}

/**
 * The .tsv form, read as MicroLens's `read_behaviors` reads it: per line, the user is the text before
 * the first tab (verbatim), the items are the second tab field, stripped and split on spaces, in
 * file order (repeats kept); further tab fields are ignored; `\n`, `\r\n` and `\r` end lines (Python's
 * universal newlines). Any user id is accepted, the empty one included, as MicroLens does. Lenient
 * where MicroLens would crash: blank lines and runs of spaces are skipped, and a first line
 * `user<TAB>item…` without digits is taken as a header.
 */
function readPairsTsv(path: string, policy: BadRowPolicy, dupPolicy: DuplicatePolicy, log: WarningLog): Interaction[] {
  const out: Interaction[] = [];
  const seenUsers = new Map<string, number>();
  const lines = readText(path).replace(/^\ufeff/, "").split(/\r\n|\r|\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const raw = lines[i]!;
    if (!raw.trim()) continue;
    const fields = raw.split("\t");
    const user = fields[0]!;
    const itemField = fields.length > 1 ? fields[1]!.trim() : "";
    const items = itemField.split(" ").filter((s) => s.length > 0);
    if (i === 0 && /^user(_?id)?$/i.test(user.trim()) && !/\d/.test(itemField)) continue; // optional header
    const bad = (kind: WarningKind, message: string) => {
      if ((kind === "duplicate_row" ? dupPolicy : policy) === "error") throw new DataError(`${path}:${lineNo}: ${message}`);
      log.add({ kind, file: path, line: lineNo, message });
    };
    if (fields.length < 2) {
      bad("bad_row", `no tab after the user id (expected 'user<TAB>item item …')`);
      continue;
    }
    if (items.length === 0) continue; // a user without interactions: fewer than any minimum, dropped as MicroLens drops it
    const first = seenUsers.get(user);
    if (first !== undefined && dupPolicy !== "keep") {
      bad("duplicate_row", `user '${user}' already has a line (line ${first})`);
      continue;
    }
    if (first === undefined) seenUsers.set(user, lineNo);
    // The .tsv has no timestamps; its order is the time order, so the position stands in for one.
    items.forEach((item, k) => out.push({ user, item, timestamp: k, line: lineNo }));
  }
  return out;
}

function readTitles(path: string, log: WarningLog): Map<string, string> {
  const titles = new Map<string, string>();
  const firstLine = new Map<string, number>();
  let first = true;
  try {
    for (const { fields, line } of readCsv(readText(path))) {
      // 50k form has the header `item,title`; the 100k `title_en` form has none.
      if (first) {
        first = false;
        if (fields.length === 2 && fields[0]!.trim().toLowerCase() === "item" && fields[1]!.trim().toLowerCase() === "title") continue;
      }
      const item = fields[0]!.trim();
      if (!item || fields.length < 2) {
        log.add({ kind: "bad_title_row", file: path, line, message: item ? "no title field" : "empty item id" });
        continue;
      }
      // Unquoted commas inside a title split it into more fields: join them back.
      const title = fields.slice(1).join(",").trim();
      const prev = firstLine.get(item);
      if (prev !== undefined) {
        log.add({ kind: "duplicate_title", file: path, line, message: `item '${item}' already has a title (line ${prev}); keeping the first` });
        continue;
      }
      firstLine.set(item, line);
      titles.set(item, title);
    }
  } catch (err) {
    if (err instanceof CsvSyntaxError) throw new DataError(`${path}:${err.line}: ${err.message}`);
    throw err;
  }
  return titles;
}

function listFiles(dir: string | null, ext: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!dir) return out;
  for (const raw of readdirSync(dir, { encoding: "buffer" })) {
    // A name that is not UTF-8 would decode with U+FFFD and could pair with the wrong item id.
    const fault = findUtf8Fault(raw);
    if (fault) throw new DataError(`${dir}: file name '${raw.toString("latin1")}' is not UTF-8 (byte 0x${fault.byte.toString(16)} at offset ${fault.offset}); rename it`);
    const name = raw.toString("utf8");
    if (name.endsWith(ext) && !name.startsWith(".")) out.set(name.slice(0, -ext.length), join(dir, name));
  }
  return out;
}

/** Load a MicroLens-format directory (see the file header for the layout). */
export function loadMicroLens(dir: string, opts: LoadOptions = {}): MicroLensDataset {
  dir = resolve(dir);
  const { variant, files } = findMicroLensFiles(dir, opts);
  const onBadRow = opts.onBadRow ?? "error";
  const onDuplicate = opts.onDuplicate ?? "keep";
  const needVideos = opts.needVideos ?? true;
  // without video content, a missing video is nothing to stop for; `skip` still drops, so a split stays
  // the same for ID-only and content runs on one folder
  const requested = opts.onMissingVideo ?? "error";
  const onMissingVideo: MissingVideoPolicy = !needVideos && requested === "error" ? "keep" : requested;
  const log = new WarningLog(opts.maxWarnings ?? 100);

  let interactions =
    files.pairsFormat === "csv" ? readPairsCsv(files.pairs, onBadRow, onDuplicate, log) : readPairsTsv(files.pairs, onBadRow, onDuplicate, log);
  if (interactions.length === 0) {
    const skipped = warningTotalOf(log.counts);
    throw new DataError(`${files.pairs}: no interactions${skipped > 0 ? ` left (${skipped} bad row(s) skipped)` : " (the file has only its header)"}`);
  }
  const titles = files.titles ? readTitles(files.titles, log) : new Map<string, string>();

  if (!files.videos && !needVideos) {
    // interactions alone: no video matching at all (every item kept, nothing to warn about)
    return { dir, variant, files, interactions, titles, videos: new Map(), covers: new Map(), itemsWithoutVideo: [], warnings: log.warnings, warningCounts: log.counts };
  }
  if (!files.videos && onMissingVideo === "error") {
    throw new DataError(
      `${join(dir, `MicroLens-${variant}_videos`)}: missing videos directory (set dataset.on_missing_video to keep or skip to load without videos)`,
    );
  }
  const videoFiles = listFiles(files.videos, ".mp4");
  const coverFiles = listFiles(files.covers, ".jpg");
  const videos = new Map<string, string>();
  const covers = new Map<string, string>();
  const missing = new Map<string, number>(); // item → line of its first interaction
  interactions.forEach((x) => {
    if (videos.has(x.item) || missing.has(x.item)) return;
    const v = videoFiles.get(x.item);
    if (v) videos.set(x.item, v);
    else missing.set(x.item, x.line);
    const c = coverFiles.get(x.item);
    if (c) covers.set(x.item, c);
  });
  const videosDir = files.videos ?? join(dir, `MicroLens-${variant}_videos`);
  for (const [item, line] of missing) {
    const message = `item '${item}' has no video file ${join(videosDir, `${item}.mp4`)}`;
    if (onMissingVideo === "error") throw new DataError(`${files.pairs}:${line}: ${message}`);
    log.add({ kind: "missing_video", file: files.pairs, line, message: onMissingVideo === "skip" ? `${message}; its interactions are dropped` : message });
  }
  if (onMissingVideo === "skip" && missing.size > 0) interactions = interactions.filter((x) => !missing.has(x.item));
  const itemsWithoutVideo = onMissingVideo === "keep" ? sortIds(missing.keys()) : [];

  return { dir, variant, files, interactions, titles, videos, covers, itemsWithoutVideo, warnings: log.warnings, warningCounts: log.counts };
}

/** Total number of warnings of a loaded dataset. */
export function warningTotal(ds: Pick<MicroLensDataset, "warningCounts">): number {
  return warningTotalOf(ds.warningCounts);
}

function warningTotalOf(counts: Readonly<Record<string, number>>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}
