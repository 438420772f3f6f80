// ranks.arrow (docs/architecture.md, "Ranks"): user utf8, split utf8 (valid|test), target utf8,
// rank int32 (1-based), topk list<utf8>. Written by the worker's `rank` op and by the TS popularity ranker.
import { Field, Int32, List, makeVector, Table, Utf8, vectorFromArray } from "apache-arrow";
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
    user: vectorFromArray(rows.map((r) => r.user), new Utf8()),
    split: vectorFromArray(rows.map((r) => r.split), new Utf8()),
    target: vectorFromArray(rows.map((r) => r.target), new Utf8()),
    rank: makeVector({ type: new Int32(), data: Int32Array.from(rows, (r) => r.rank) }),
    topk: vectorFromArray(rows.map((r) => r.topk), new List(new Field("item", new Utf8(), false))),
  });
}

/** Write ranks.arrow atomically. */
export function writeRanks(path: string, rows: readonly RankRow[]): void {
  writeArrowFile(path, ranksTable(rows));
}

/** Read ranks.arrow; errors name the file and row. `topk` is not read (metrics do not need it). */
export function readRanks(path: string): RankRow[] {
  const t = readArrowFile(path, ["user", "split", "target", "rank"]);
  const users = t.getChild("user")!;
  const splits = t.getChild("split")!;
  const targets = t.getChild("target")!;
  const ranks = t.getChild("rank")!;
  const rows: RankRow[] = [];
  for (let i = 0; i < t.numRows; i++) {
    const user = users.get(i) as string | null;
    const split = splits.get(i) as string | null;
    const target = targets.get(i) as string | null;
    const rankRaw = ranks.get(i) as number | bigint | null;
    const where = `${path}: row ${i}`;
    if (!user) throw new DataError(`${where}: empty user`);
    if (split !== "valid" && split !== "test") throw new DataError(`${where}: split must be 'valid' or 'test', got '${split}'`);
    if (!target) throw new DataError(`${where}: empty target`);
    const rank = typeof rankRaw === "bigint" ? Number(rankRaw) : rankRaw;
    if (rank === null || !Number.isInteger(rank) || rank < 1) throw new DataError(`${where}: rank must be an integer ≥ 1, got ${rankRaw}`);
    rows.push({ user, split, target, rank, topk: [] });
  }
  return rows;
}
