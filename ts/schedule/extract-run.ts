// `lo-exp extract CONFIG`: run a config's data → split → extract stages (the CLI verb ts/cli/commands/extract.ts
// is a thin shell over this), as `lo-exp run` runs all of them (run.ts).
import { join, resolve } from "node:path";
import { loadConfig } from "../config/index.js";
import { ensureBackbonePath, runExtraction } from "./extract.js";
import { runGraph, type StageOutput } from "./graph.js";
import { pipelineStages } from "./pipeline.js";
import { extractItems } from "./side-channels.js";
import { PreflightError, preflightProblems } from "./preflight.js";
import { defaultLogMode, Reporter } from "./progress.js";
import { RunResources } from "./resources.js";

export interface ExtractRunOptions {
  sets?: readonly string[];
  /** recompute the extraction even when cached */
  force?: boolean;
  /** re-attempt the items recorded as failed, in place, in the finished store */
  retryFailed?: boolean;
  json?: boolean;
  cwd?: string;
  signal?: AbortSignal;
  reporter?: Reporter;
}

export interface ExtractRunResult {
  store: string;
  key: string;
  cached: boolean;
  meta: Record<string, unknown>;
}

/**
 * `lo-exp extract CONFIG`: run the data → split → extract stages of the pipeline (cached and
 * resumable like `lo-exp run`) and return where the TokenStore is.
 */
export async function runExtractStages(path: string, opts: ExtractRunOptions = {}): Promise<ExtractRunResult> {
  const cwd = opts.cwd ?? process.cwd();
  const sets = [...(opts.sets ?? [])];
  if (opts.retryFailed) sets.push("extract.retry_failed=true"); // not part of the store key: same store, failed items re-attempted
  const loaded = await loadConfig(path, { sets, cwd });
  const { config } = loaded;
  const problems = preflightProblems(loaded, cwd, { writesResults: false });
  if (problems.length) throw new PreflightError(problems);
  const reporter = opts.reporter ?? new Reporter({ mode: defaultLogMode(opts.json ?? false) });
  const resources = new RunResources(config.workers, reporter);
  const stages = pipelineStages().filter((s) => ["data", "split", "extract"].includes(s.name));
  const signal = opts.signal ?? new AbortController().signal;
  const onAbort = () => void resources.close();
  signal.addEventListener("abort", onAbort);
  try {
    const outputs: Map<string, StageOutput> = await runGraph(stages, config, {
      cacheDir: config.cache_dir,
      reporter,
      resources,
      force: opts.force ? ["extract"] : [],
      signal,
    });
    const ex = outputs.get("extract");
    if (!ex) throw new Error("this config uses no video content (recommender.item_content is false), so there is nothing to extract");
    const store = resolve(ex.dir, String(ex.meta.store ?? "store"));
    if (opts.retryFailed && ex.cached && Number(ex.meta.failed ?? 0) > 0) {
      // Re-attempt only the failed items, in place in the finished store (failures are not part of
      // its key). Stages downstream of it (train, ...) are not invalidated: --force them to use the new items.
      const pool = await resources.pool();
      const model = config.model;
      const extract = { ...config.extract, retry_failed: true };
      const modelPath = await ensureBackbonePath(model, join(config.cache_dir, "models"), pool);
      const items = extractItems(config, outputs.get("split")!.dir);
      const report = await runExtraction({ model, extract }, {
        storeDir: store, items, dataset: outputs.get("split")!.key, modelPath, workers: pool, key: ex.key, signal,
        onProgress: (p) => reporter.progress("extract", { done: p.done, total: p.total, unit: "videos", message: p.message }),
        log: (m) => reporter.log(m, "extract"),
      });
      reporter.log(`retried failed items: ${report.extracted} extracted, ${report.failed.length} still failed`, "extract");
      return { store, key: ex.key, cached: false, meta: { ...ex.meta, failed: report.failed.length, retried: report.extracted } };
    }
    return { store, key: ex.key, cached: ex.cached, meta: ex.meta };
  } finally {
    signal.removeEventListener("abort", onAbort);
    await resources.close();
  }
}
