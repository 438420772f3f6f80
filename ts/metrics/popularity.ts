// The popularity baseline: score = train_count, masked items (the user's kept items before the
// target) score −∞, ties broken by catalogue index (lower first) — the same rule as the `rank` op.
import { join } from "node:path";
import { catalogueIndex, readSplit } from "../data/split.js";
import { writeRanks, type EvalSplit, type RankRow } from "./ranks.js";

export interface PopularityOptions {
  /** where to write ranks.arrow (default `<splitDir>/ranks-pop.arrow`) */
  out?: string;
  /** length of each topk list (default 20) */
  topk?: number;
  /** which splits to rank (default both) */
  splits?: EvalSplit[];
}

/** Rank every valid/test user's target by popularity; writes ranks.arrow and returns its rows. */
export function popularityRanks(splitDir: string, opts: PopularityOptions = {}): { path: string; rows: RankRow[] } {
  const split = readSplit(splitDir);
  const index = catalogueIndex(split.items);
  // Global order: train_count descending, then catalogue index ascending.
  const order = split.items.map((_, i) => i).sort((a, b) => split.items[b]!.train_count - split.items[a]!.train_count || a - b);
  const position = new Int32Array(order.length);
  order.forEach((item, pos) => (position[item] = pos));
  const k = opts.topk ?? 20;
  const rows: RankRow[] = [];
  for (const which of opts.splits ?? (["valid", "test"] as const)) {
    for (const r of split[which]) {
      const target = index.get(r.target);
      if (target === undefined) throw new RangeError(`${splitDir}/${which}.arrow: target '${r.target}' of user '${r.user}' is not in items.arrow`);
      const masked = new Set<number>();
      for (const m of r.masked) {
        const i = index.get(m);
        if (i !== undefined) masked.add(i);
      }
      let rank: number;
      if (masked.has(target)) {
        // −∞ target: after every unmasked item, then among masked items by catalogue index.
        let before = 0;
        for (const i of masked) if (i < target) before += 1;
        rank = order.length - masked.size + before + 1;
      } else {
        let maskedAhead = 0;
        for (const i of masked) if (position[i]! < position[target]!) maskedAhead += 1;
        rank = position[target]! - maskedAhead + 1;
      }
      const topk: string[] = [];
      for (let p = 0; p < order.length && topk.length < k; p++) if (!masked.has(order[p]!)) topk.push(split.items[order[p]!]!.item);
      rows.push({ user: r.user, split: which, target: r.target, rank, topk });
    }
  }
  const path = opts.out ?? join(splitDir, "ranks-pop.arrow");
  writeRanks(path, rows);
  return { path, rows };
}
