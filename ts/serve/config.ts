// The `serve` config section (schemas/config/serve.schema.json) as the service reads it: from the run's
// resolved.yaml when the run wrote one, else the schema defaults; CLI flags override single keys.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { configDefaults, loadConfigSync, type ServeConfig, type WorkersConfig } from "../config/index.js";
import { ServeError } from "./errors.js";
import { jsonSyntaxProblem } from "../util/text.js";

/** schemas/config/serve.schema.json, after defaults. */
export type ServeSettings = ServeConfig;
/** schemas/config/serve.schema.json `bench` */
export type ServeBenchSettings = ServeConfig["bench"];

/** The schema's defaults (what `serve: {}` resolves to). */
export function serveDefaults(): ServeSettings {
  return configDefaults().serve;
}

/** The run's `serve` section: `<runDir>/resolved.yaml` if present (written by `lo-exp run`), else defaults. */
export function serveSettingsForRun(runDir: string): ServeSettings {
  const resolved = path.join(runDir, "resolved.yaml");
  if (!existsSync(resolved)) return serveDefaults();
  return loadConfigSync(resolved, { checkPaths: false }).config.serve;
}

/** The run's `workers` section (liveness keys for the ranking worker): from resolved.yaml, else defaults. */
export function workersSettingsForRun(runDir: string): WorkersConfig {
  const resolved = path.join(runDir, "resolved.yaml");
  if (!existsSync(resolved)) return configDefaults().workers;
  return loadConfigSync(resolved, { checkPaths: false }).config.workers;
}

/**
 * The directories serving uses, from what the user named: a directory holding `<store_dir>/store.json`
 * (a training run with its store, or the embed stage's folder), or a run's results folder
 * `results/<name>/`, whose `stages.json` names the embed stage's folder. The error names the missing
 * path and the fix.
 */
export function checkRunDir(runDir: string, settings: ServeSettings): { runDir: string; storeDir: string } {
  const abs = path.resolve(runDir);
  if (!existsSync(abs)) throw new ServeError(`${runDir}: no such run directory`);
  const direct = path.resolve(abs, settings.store_dir);
  if (existsSync(path.join(direct, "store.json"))) return { runDir: abs, storeDir: direct };
  const stages = path.join(abs, "stages.json");
  if (existsSync(stages)) {
    let embedDir: unknown;
    let text: string;
    try {
      text = readFileSync(stages, "utf8");
    } catch (err) {
      throw new ServeError(`${stages}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); rerun \`lo-exp run\` to rewrite it`);
    }
    try {
      const parsed: unknown = JSON.parse(text);
      embedDir = parsed && typeof parsed === "object" ? (parsed as { embed?: { dir?: unknown } }).embed?.dir : undefined;
    } catch (err) {
      throw new ServeError(`${stages}: ${jsonSyntaxProblem(err, text)} (rerun \`lo-exp run\` to rewrite it)`);
    }
    if (typeof embedDir !== "string") throw new ServeError(`${stages}: this run has no embed stage (embed.dir missing)`);
    const storeDir = path.resolve(embedDir, settings.store_dir);
    if (!existsSync(path.join(storeDir, "store.json"))) {
      throw new ServeError(`${path.join(storeDir, "store.json")} (embed stage of ${stages}): missing; rerun \`lo-exp run\``);
    }
    return { runDir: path.resolve(embedDir), storeDir };
  }
  throw new ServeError(`${path.join(direct, "store.json")}: no EmbeddingStore in this run (run the embed stage first; \`lo-exp run\` does and lists it in results/<name>/stages.json)`);
}
