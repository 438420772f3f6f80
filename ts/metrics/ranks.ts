// ranks.arrow (docs/architecture.md, "Ranks"): user utf8, split utf8 (valid|test), target utf8,
// rank int32 (1-based), topk list<utf8>. Written by the worker's `rank` op and by the TS popularity ranker.
import { Int32, makeVector, Table } from "apache-arrow";
import { readIntColumn, readUtf8Column, utf8ListVector, utf8Vector } from "../data/arrow-columns.js";
import { readArrowFile, writeArrowFile } from "../data/arrow-io.js";
import { DataError } from "../data/errors.js";

export type EvalSplit = "valid" | "test";

export interface RankRow {
  user: string;
  split: EvalSplit;
  target: string;
  /** 1-based rank of the target in the full catalogue ranking */
  rank: number;
  /** best-first item ids (may be empty) */
  topk: string[];
}

export function ranksTable(rows: readonly RankRow[]): Table {
  return new Table({
    user: utf8Vector(rows.map((r) => r.user)),
    split: utf8Vector(rows.map((r) => r.split)),
    target: utf8Vector(rows.map((r) => r.target)),
    rank: makeVector({ type: new Int32(), data: Int32Array.from(rows, (r) => r.rank) }),
    topk: utf8ListVector(rows.map((r) => r.topk)),
  });
}

/** Write ranks.arrow atomically. */
export function writeRanks(path: string, rows: readonly RankRow[]): void {
  writeArrowFile(path, ranksTable(rows));
}

/** Read ranks.arrow; errors name the file and row. `topk` is not read (metrics do not need it). */
export function readRanks(path: string): RankRow[] {
  const t = readArrowFile(path, ["user", "split", "target", "rank"]);
  let users: string[], splits: string[], targets: string[], ranks: number[];
  try {
    users = readUtf8Column(t, "user");
    splits = readUtf8Column(t, "split");
    targets = readUtf8Column(t, "target");
    ranks = readIntColumn(t, "rank");
  } catch (err) {
    throw new DataError(`${path}: ${(err as Error).message}`);
  }
  const rows: RankRow[] = [];
  for (let i = 0; i < t.numRows; i++) {
    const user = users[i]!;
    const split = splits[i]!;
    const target = targets[i]!;
    const rank = ranks[i]!;
    const where = `${path}: row ${i}`;
    if (!user) throw new DataError(`${where}: empty user`);
    if (split !== "valid" && split !== "test") throw new DataError(`${where}: split must be 'valid' or 'test', got '${split}'`);
    if (!target) throw new DataError(`${where}: empty target`);
    if (!Number.isInteger(rank) || rank < 1) throw new DataError(`${where}: rank must be an integer ≥ 1, got ${rank}`);
    rows.push({ user, split, target, rank, topk: [] });
  }
  return rows;
}
