// The two stages that write ranks.arrow: pop-rank (the Pop baseline) and rank (a trained model).
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { readArrowFile, writeArrowFile } from "../../data/index.js";
import { popularityRanks } from "../../metrics/index.js";
import { isPopularity } from "../dataset-source.js";
import { storeDir, type PipelineStage } from "./stage.js";

/**
 * Ranks for rankers that need no training (popularity). A trained model's ranks come from the rank
 * stage, which ranks valid and test users with the train stage's best weights.
 */
export const popRankStage: PipelineStage = {
  name: "pop-rank",
  after: ["split"],
  version: 1,
  skip: (c) => (isPopularity(c) ? undefined : "this stage ranks by popularity (the Pop baseline, `ranking: popularity`); this config ranks with its trained model"),
  keyParts: () => ({ ranking: "popularity" }),
  async run(ctx) {
    const { rows } = popularityRanks(ctx.inputs.split!.dir, { out: join(ctx.dir, "ranks.arrow") });
    return { users: rows.length, publish: ["ranks.arrow"] };
  },
};

/** Rank valid and test users in shards over the worker pool with the trained weights; merge into ranks.arrow. */
export const modelRankStage: PipelineStage = {
  name: "rank",
  after: ["split", "extract", "train"],
  version: 2,
  skip: (c) => (isPopularity(c) ? "popularity ranking happens in the pop-rank stage" : undefined),
  keyParts: () => ({ ranking: "model" }),
  async run(ctx) {
    const pool = await ctx.resources.pool();
    const shards = Math.max(1, pool.size);
    const jobs: { split: "valid" | "test"; index: number; out: string }[] = [];
    for (const split of ["valid", "test"] as const)
      for (let index = 0; index < shards; index++) jobs.push({ split, index, out: join(ctx.dir, `ranks-${split}-${index}.arrow`) });
    let done = jobs.filter((j) => existsSync(j.out)).length; // shards finished before an interruption
    ctx.progress({ done, total: jobs.length, unit: "shards" });
    await Promise.all(
      jobs
        .filter((j) => !existsSync(j.out))
        .map(async (j) => {
          await pool.call(
            "rank",
            {
              run_dir: ctx.inputs.train!.dir,
              split: j.split,
              shard: { index: j.index, count: shards },
              out: j.out,
              split_dir: ctx.inputs.split!.dir,
              store: storeDir(ctx.inputs),
            },
            { log: ctx.log }, // a shard whose worker died is retried on another (IDEMPOTENT_OPS)
          );
          done++;
          ctx.progress({ done, total: jobs.length, unit: "shards" });
        }),
    );
    // concatenate the shards' Arrow tables as they are (topk lists included), valid then test
    const [first, ...rest] = jobs.map((j) => readArrowFile(j.out));
    const merged = first!.concat(...rest);
    writeArrowFile(join(ctx.dir, "ranks.arrow"), merged);
    for (const j of jobs) rmSync(j.out, { force: true });
    return { users: merged.numRows, shards, publish: ["ranks.arrow"] };
  },
};
