// The official MicroLens protocol, as MicroLens's own loader applies it (`read_behaviors` in
// Code/VideoRec/*/utils/load_data.py, which reads the .tsv): per user, interactions in time order
// (the .csv: stably sorted by timestamp; the .tsv: line order), repeats kept; users with fewer than 5
// interactions dropped; the last 13 kept; last item = test target, second to last = validation target;
// the model input is at most the 10 items before the target; items that no kept sequence mentions
// leave the catalogue. Ranking masks every kept item before the target. A user with several .tsv
// lines (`lineSequences`): the last line with at least 5 items is the user's sequence, and the last
// 13 items of each such line join the catalogue — MicroLens's dictionary overwrite, item counts kept.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Int64, makeVector, Table } from "apache-arrow";
import { readIntColumn, readUtf8Column, readUtf8ListColumn, utf8ListVector, utf8Vector } from "./arrow-columns.js";
import { writeFileAtomic } from "../util/fs.js";
import { readArrowFile, writeArrowFile } from "./arrow-io.js";
import { sortIds } from "./ids.js";
import { DataError } from "./errors.js";
import { loadMicroLens, type Interaction, type LoadOptions, type MicroLensDataset } from "./microlens.js";

export interface SplitOptions {
  /** users with fewer interactions are dropped (MicroLens: 5) */
  minInteractions?: number;
  /** each user's last `keep` interactions are kept (MicroLens: 13) */
  keep?: number;
  /** model input length before a target (MicroLens: 10) */
  historyMax?: number;
}

export const PROTOCOL = { minInteractions: 5, keep: 13, historyMax: 10 } as const;

export interface CatalogueItem {
  item: string;
  /** occurrences in train sequences (the kept items before each user's validation target) */
  train_count: number;
  title: string;
  /** absolute path of the item's .mp4, or "" */
  video: string;
}

export interface TrainRow {
  user: string;
  /** kept items before the validation target, oldest first (≤ keep − 2) */
  sequence: string[];
}

export interface EvalRow {
  user: string;
  /** at most `historyMax` items before the target, oldest first */
  history: string[];
  target: string;
  /** every kept item before the target, oldest first, repeats kept (≤ keep − 2 for valid, ≤ keep − 1 for test) */
  masked: string[];
}

export interface OfficialSplit {
  /** catalogue, byte order of item id: row index = catalogue index */
  items: CatalogueItem[];
  /** users in byte order of user id (same order in train, valid and test) */
  train: TrainRow[];
  valid: EvalRow[];
  test: EvalRow[];
  counts: SplitCounts;
  protocol: Required<SplitOptions>;
}

export interface SplitCounts {
  usersIn: number;
  usersKept: number;
  /** users with fewer than minInteractions interactions */
  usersDropped: number;
  itemsIn: number;
  /** catalogue size */
  itemsKept: number;
  interactionsIn: number;
  /** interactions in kept sequences */
  interactionsKept: number;
  /** Σ train sequence lengths (the paper's "training samples") */
  trainSamples: number;
}

/** Group interactions by user, each user's list stably sorted by timestamp. */
export function userSequences(interactions: readonly Interaction[]): Map<string, string[]> {
  const byUser = new Map<string, Interaction[]>();
  for (const x of interactions) {
    let list = byUser.get(x.user);
    if (!list) byUser.set(x.user, (list = []));
    list.push(x);
  }
  const out = new Map<string, string[]>();
  // Array.prototype.sort is stable (ES2019): equal timestamps keep file order.
  for (const [user, list] of byUser) out.set(user, list.sort((a, b) => a.timestamp - b.timestamp).map((x) => x.item));
  return out;
}

/** Each user's .tsv lines as separate sequences, in file order (a line's items keep their order). */
function lineSequences(interactions: readonly Interaction[]): Map<string, string[][]> {
  const out = new Map<string, Map<number, string[]>>();
  for (const x of interactions) {
    let lines = out.get(x.user);
    if (!lines) out.set(x.user, (lines = new Map()));
    let seq = lines.get(x.line);
    if (!seq) lines.set(x.line, (seq = []));
    seq.push(x.item);
  }
  return new Map([...out].map(([user, lines]) => [user, [...lines.keys()].sort((a, b) => a - b).map((l) => lines.get(l)!)]));
}

/** Apply the official protocol to interactions (in file order). */
export function officialSplit(
  interactions: readonly Interaction[],
  opts: SplitOptions & {
    titles?: ReadonlyMap<string, string>;
    videos?: ReadonlyMap<string, string>;
    /** the interactions come from a .tsv: each (user, line) is one sequence, a later line replaces an earlier one */
    lineSequences?: boolean;
  } = {},
): OfficialSplit {
  const protocol = {
    minInteractions: opts.minInteractions ?? PROTOCOL.minInteractions,
    keep: opts.keep ?? PROTOCOL.keep,
    historyMax: opts.historyMax ?? PROTOCOL.historyMax,
  };
  if (protocol.minInteractions < 3) throw new RangeError(`minInteractions must be ≥ 3 (train, valid, test), got ${protocol.minInteractions}`);
  if (protocol.keep < protocol.minInteractions) throw new RangeError(`keep (${protocol.keep}) must be ≥ minInteractions (${protocol.minInteractions})`);
  // .tsv: each user's lines; otherwise one time-ordered sequence per user (not copied into lines)
  const perLine = opts.lineSequences ? lineSequences(interactions) : undefined;
  const perUser = perLine ? undefined : userSequences(interactions);
  const usersIn = (perLine ?? perUser!).size;
  const userIds = perLine ? perLine.keys() : perUser!.keys();
  const itemsIn = new Set(interactions.map((x) => x.item)).size;
  const train: TrainRow[] = [];
  const valid: EvalRow[] = [];
  const test: EvalRow[] = [];
  const trainCount = new Map<string, number>();
  const inCatalogue = new Set<string>();
  let interactionsKept = 0;
  let trainSamples = 0;
  for (const user of sortIds(userIds)) {
    const lines = perLine ? perLine.get(user)! : [perUser!.get(user)!];
    const long = lines.filter((seq) => seq.length >= protocol.minInteractions);
    if (long.length === 0) continue;
    for (const seq of long) for (const item of seq.slice(-protocol.keep)) inCatalogue.add(item);
    const kept = long[long.length - 1]!.slice(-protocol.keep);
    const n = kept.length;
    interactionsKept += n;
    const beforeValid = kept.slice(0, n - 2);
    const beforeTest = kept.slice(0, n - 1);
    for (const item of beforeValid) trainCount.set(item, (trainCount.get(item) ?? 0) + 1);
    trainSamples += beforeValid.length;
    train.push({ user, sequence: beforeValid });
    valid.push({ user, history: beforeValid.slice(-protocol.historyMax), target: kept[n - 2]!, masked: beforeValid });
    test.push({ user, history: beforeTest.slice(-protocol.historyMax), target: kept[n - 1]!, masked: beforeTest });
  }
  const items = sortIds(inCatalogue).map((item) => ({
    item,
    train_count: trainCount.get(item) ?? 0,
    title: opts.titles?.get(item) ?? "",
    video: opts.videos?.get(item) ?? "",
  }));
  return {
    items,
    train,
    valid,
    test,
    protocol,
    counts: {
      usersIn,
      usersKept: train.length,
      usersDropped: usersIn - train.length,
      itemsIn,
      itemsKept: items.length,
      interactionsIn: interactions.length,
      interactionsKept,
      trainSamples,
    },
  };
}

const strings = utf8Vector;
const stringLists = utf8ListVector;

/** Arrow tables of a split, in the layout of docs/architecture.md ("Split"). */
export function splitTables(split: OfficialSplit): { items: Table; train: Table; valid: Table; test: Table } {
  const evalTable = (rows: EvalRow[]) =>
    new Table({
      user: strings(rows.map((r) => r.user)),
      history: stringLists(rows.map((r) => r.history)),
      target: strings(rows.map((r) => r.target)),
      masked: stringLists(rows.map((r) => r.masked)),
    });
  return {
    items: new Table({
      item: strings(split.items.map((r) => r.item)),
      train_count: makeVector({ type: new Int64(), data: BigInt64Array.from(split.items, (r) => BigInt(r.train_count)) }),
      title: strings(split.items.map((r) => r.title)),
      video: strings(split.items.map((r) => r.video)),
    }),
    train: new Table({ user: strings(split.train.map((r) => r.user)), sequence: stringLists(split.train.map((r) => r.sequence)) }),
    valid: evalTable(split.valid),
    test: evalTable(split.test),
  };
}

export interface SplitManifest {
  format: "linkedout.split/1";
  protocol: Required<SplitOptions>;
  counts: SplitCounts;
  source: Record<string, unknown>;
}

/** Write OUT/{items,train,valid,test}.arrow (Arrow IPC files, each written atomically) and OUT/split.json. */
export function writeSplit(outDir: string, split: OfficialSplit, source: Record<string, unknown> = {}): string[] {
  mkdirSync(outDir, { recursive: true });
  const tables = splitTables(split);
  const written: string[] = [];
  for (const name of ["items", "train", "valid", "test"] as const) {
    const path = join(outDir, `${name}.arrow`);
    writeArrowFile(path, tables[name]);
    written.push(path);
  }
  const manifest: SplitManifest = { format: "linkedout.split/1", protocol: split.protocol, counts: split.counts, source };
  const path = join(outDir, "split.json");
  writeFileAtomic(path, `${JSON.stringify(manifest, null, 2)}\n`);
  written.push(path);
  return written;
}

/** Throw a DataError naming the pairs file when the protocol keeps no user (nothing to train or rank). */
export function checkUsersLeft(split: Pick<OfficialSplit, "counts" | "protocol">, pairsFile: string): void {
  if (split.counts.usersKept > 0) return;
  throw new DataError(
    `${pairsFile}: no user left after the protocol: none of its ${split.counts.usersIn} user(s) has ≥ ${split.protocol.minInteractions} interactions`,
  );
}

/** Load a MicroLens directory, apply the protocol and write the split: what `lo-exp data split` does. */
export function splitDataset(
  dir: string,
  outDir: string,
  opts: LoadOptions & SplitOptions = {},
): { dataset: MicroLensDataset; split: OfficialSplit; written: string[] } {
  const dataset = loadMicroLens(dir, opts);
  const lineSeqs = dataset.files.pairsFormat === "tsv";
  const split = officialSplit(dataset.interactions, { ...opts, titles: dataset.titles, videos: dataset.videos, lineSequences: lineSeqs });
  checkUsersLeft(split, dataset.files.pairs);
  const written = writeSplit(outDir, split, {
    dir: dataset.dir,
    variant: dataset.variant,
    pairs: dataset.files.pairs,
    warnings: dataset.warningCounts,
  });
  return { dataset, split, written };
}

/** Read a written split back (items, train, valid, test). */
export function readSplit(splitDir: string): Pick<OfficialSplit, "items" | "train" | "valid" | "test"> {
  const items = readArrowFile(join(splitDir, "items.arrow"), ["item", "train_count"]);
  const evalRows = (name: string): EvalRow[] => {
    const t = readArrowFile(join(splitDir, `${name}.arrow`), ["user", "history", "target", "masked"]);
    const history = readUtf8ListColumn(t, "history");
    const target = readUtf8Column(t, "target");
    const masked = readUtf8ListColumn(t, "masked");
    return readUtf8Column(t, "user").map((user, i) => ({ user, history: history[i]!, target: target[i]!, masked: masked[i]! }));
  };
  const train = readArrowFile(join(splitDir, "train.arrow"), ["user", "sequence"]);
  const sequences = readUtf8ListColumn(train, "sequence");
  const has = (name: string) => items.schema.fields.some((f) => f.name === name);
  const counts = readIntColumn(items, "train_count");
  const titles = has("title") ? readUtf8Column(items, "title") : null;
  const videos = has("video") ? readUtf8Column(items, "video") : null;
  return {
    items: readUtf8Column(items, "item").map((item, i) => ({ item, train_count: counts[i]!, title: titles?.[i] ?? "", video: videos?.[i] ?? "" })),
    train: readUtf8Column(train, "user").map((user, i) => ({ user, sequence: sequences[i]! })),
    valid: evalRows("valid"),
    test: evalRows("test"),
  };
}

/** Catalogue index of every item id (row order of items.arrow). */
export function catalogueIndex(items: readonly { item: string }[]): Map<string, number> {
  const index = new Map<string, number>();
  items.forEach((r, i) => index.set(r.item, i));
  return index;
}

