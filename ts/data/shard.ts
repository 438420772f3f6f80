// Deterministic sharding of ids (items for extraction, users for ranking). An id's shard depends only
// on the id and the shard count — sha256(id) as a 64-bit number mod n — so adding ids never moves an
// existing one, and every process computes the same assignment without coordination.
import { createHash } from "node:crypto";
import { sortIds } from "./ids.js";

export interface ShardManifest {
  format: "linkedout.shard/1";
  /** 0-based shard index */
  shard: number;
  /** number of shards */
  shards: number;
  /** the shard's ids in byte order */
  ids: string[];
  count: number;
  /** sha256 over the shard's ids (and their content digests, when given): changes iff the shard's work changes */
  hash: string;
}

/** The shard (0..n−1) of one id. */
export function shardOf(id: string, n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`shard count must be a positive integer, got ${n}`);
  const digest = createHash("sha256").update(id, "utf8").digest();
  return Number(digest.readBigUInt64BE(0) % BigInt(n));
}

export interface ShardOptions {
  /** a digest of each id's content (e.g. its video file's sha256) folded into the shard hash */
  contentOf?: (id: string) => string;
}

/** Assign ids to `n` shards; returns one manifest per shard (some may be empty). Duplicate ids are an error. */
export function shardIds(ids: Iterable<string>, n: number, opts: ShardOptions = {}): ShardManifest[] {
  const buckets: string[][] = Array.from({ length: n }, () => []);
  const seen = new Set<string>();
  for (const id of ids) {
    if (seen.has(id)) throw new RangeError(`duplicate id '${id}' in shard input`);
    seen.add(id);
    buckets[shardOf(id, n)]!.push(id);
  }
  return buckets.map((bucket, shard) => {
    const sorted = sortIds(bucket);
    const h = createHash("sha256").update(`linkedout.shard/1\n`);
    for (const id of sorted) {
      h.update(id, "utf8");
      if (opts.contentOf) h.update(`\t${opts.contentOf(id)}`, "utf8");
      h.update("\n");
    }
    return { format: "linkedout.shard/1", shard, shards: n, ids: sorted, count: sorted.length, hash: h.digest("hex") };
  });
}
