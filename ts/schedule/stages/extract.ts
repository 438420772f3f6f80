// The extract stage: video LLM tokens of every catalogue item into a TokenStore.
import { join } from "node:path";
import { writeArrowFile } from "../../data/index.js";
import { usesContent } from "../dataset-source.js";
import { ensureBackbonePath, extractionKeyParts, runExtraction, type ExtractionProgress } from "../extract.js";
import { runRayExtraction } from "../extract-ray.js";
import { extractItems, extractItemsTable, sideKey } from "../side-channels.js";
import type { PipelineStage } from "./stage.js";

/**
 * Video LLM extraction into a TokenStore (ts/schedule/extract.ts, Python op `extract`), item shards
 * over the worker pool. Its key holds only what the stored tokens depend on (backbone, prompts,
 * frames, taps, ...) and the split upstream, so every recommender/training variant shares it.
 */
export const extractStage: PipelineStage = {
  name: "extract",
  after: ["split"],
  version: 1,
  skip: (c) => (usesContent(c) ? undefined : "the config uses no video content"),
  keyParts: (c) => ({ ...extractionKeyParts("", c.model, c.extract), side: sideKey(c) }),
  async run(ctx) {
    const model = ctx.config.model;
    const settings = ctx.config.extract;
    // the pool starts only when something needs it (the Ray engine may need none)
    const modelPath = await ensureBackbonePath(model, join(ctx.config.cache_dir, "models"), () => ctx.resources.pool());
    const items = extractItems(ctx.config, ctx.inputs.split!.dir);
    const common = {
      storeDir: join(ctx.dir, "store"),
      dataset: ctx.inputs.split!.key,
      modelPath,
      key: ctx.key,
      onProgress: (p: ExtractionProgress) => ctx.progress({ done: p.done, total: p.total, unit: "videos", message: p.message }),
      log: ctx.log,
      signal: ctx.signal,
    };
    let report: Awaited<ReturnType<typeof runExtraction>>;
    if (settings.engine === "ray") {
      // the work unit reads the catalogue from a file: the split's items with their side-channel values
      const itemsPath = join(ctx.dir, "items.arrow");
      writeArrowFile(itemsPath, extractItemsTable(items, settings.side_channels));
      report = await runRayExtraction({ model, extract: settings }, { ...common, itemsPath, threads: ctx.config.workers.threads });
    } else {
      const pool = await ctx.resources.pool();
      report = await runExtraction(
        { model, extract: settings },
        { ...common, items, workers: pool, replaceWorker: () => pool.replaceDead() }, // a shard whose worker died goes on on a new one
      );
    }
    if (report.failed.length) ctx.log(`${report.failed.length} item(s) failed: ${report.failed.slice(0, 3).map((f) => `${f.item} (${f.reason})`).join(", ")}`);
    return {
      store: "store",
      items: report.items,
      extracted: report.extracted,
      failed: report.failed.length,
      retries: report.retries.length,
      items_per_second: report.itemsPerSecond,
    };
  },
};
