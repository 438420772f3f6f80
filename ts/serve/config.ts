// The `serve` config section (schemas/config/serve.schema.json) as the service reads it: from the run's
// resolved.yaml when the run wrote one, else the schema defaults; CLI flags override single keys.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import { loadConfigSync } from "../config/index.js";
import { CliError } from "../cli/command.js";
import { SERVE_CONFIG_SCHEMA } from "./schemas.js";

/** schemas/config/serve.schema.json `bench` */
export interface ServeBenchSettings {
  catalogues: number[];
  queries: number;
  batch: number;
  vllm_queries: number;
  vllm_candidates: number;
  load_clients: number;
  load_requests: number;
}

/** schemas/config/serve.schema.json, after defaults. */
export interface ServeSettings {
  port: number;
  store_dir: string;
  max_k: number;
  max_batch: number;
  refresh_s: number;
  max_body_bytes: number;
  threads: number;
  bench: ServeBenchSettings;
}

/** The schema's defaults (what `serve: {}` resolves to). */
export function serveDefaults(): ServeSettings {
  // strict "log": the section schema has a root `default: {}` (how every section names its default)
  const ajv = new Ajv2020.default({ useDefaults: true, strict: "log", logger: false });
  const validate = ajv.compile(JSON.parse(readFileSync(SERVE_CONFIG_SCHEMA, "utf8")) as object);
  const data: Record<string, unknown> = {};
  if (!validate(data)) throw new Error(`serve.schema.json: defaults do not validate: ${ajv.errorsText(validate.errors)}`);
  return data as unknown as ServeSettings;
}

/** The run's `serve` section: `<runDir>/resolved.yaml` if present (written by `lo-exp run`), else defaults. */
export function serveSettingsForRun(runDir: string): ServeSettings {
  const resolved = path.join(runDir, "resolved.yaml");
  if (!existsSync(resolved)) return serveDefaults();
  const loaded = loadConfigSync(resolved, { checkPaths: false });
  return loaded.config.serve as unknown as ServeSettings;
}

/**
 * The directories serving uses, from what the user named: a directory holding `<store_dir>/store.json`
 * (a training run with its store, or the embed stage's folder), or a run's results folder
 * `results/<name>/`, whose `stages.json` names the embed stage's folder. The error names the missing
 * path and the fix.
 */
export function checkRunDir(runDir: string, settings: ServeSettings): { runDir: string; storeDir: string } {
  const abs = path.resolve(runDir);
  if (!existsSync(abs)) throw new CliError(`${runDir}: no such run directory`);
  const direct = path.resolve(abs, settings.store_dir);
  if (existsSync(path.join(direct, "store.json"))) return { runDir: abs, storeDir: direct };
  const stages = path.join(abs, "stages.json");
  if (existsSync(stages)) {
    let embedDir: unknown;
    try {
      embedDir = (JSON.parse(readFileSync(stages, "utf8")) as { embed?: { dir?: unknown } }).embed?.dir;
    } catch (err) {
      throw new CliError(`${stages}: not valid JSON (${(err as Error).message})`);
    }
    if (typeof embedDir !== "string") throw new CliError(`${stages}: this run has no embed stage (embed.dir missing)`);
    const storeDir = path.resolve(embedDir, settings.store_dir);
    if (!existsSync(path.join(storeDir, "store.json"))) {
      throw new CliError(`${path.join(storeDir, "store.json")} (embed stage of ${stages}): missing; rerun \`lo-exp run\``);
    }
    return { runDir: path.resolve(embedDir), storeDir };
  }
  throw new CliError(`${path.join(direct, "store.json")}: no EmbeddingStore in this run (run the embed stage first; \`lo-exp run\` does and lists it in results/<name>/stages.json)`);
}
