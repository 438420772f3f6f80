// Checks before work starts (`lo-exp run`): everything that can be found cheaply before any worker or
// stage starts — output folders writable, the dataset readable with users left after the protocol, the
// model folder a LLaVA-OneVision checkpoint — reported together, one line each, each naming the config
// key and where its value came from (docs/errors.md, PreflightError).
import { accessSync, closeSync, constants, existsSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { showSource, sourceOf, type LoadedConfig } from "../config/index.js";
import { checkUsersLeft, loadMicroLens, officialSplit } from "../data/index.js";
import { splitOptions, usesContent } from "./dataset-source.js";
import { checkBeforeRun } from "./side-channels.js";

/** The `architectures` entry of a LLaVA-OneVision checkpoint's config.json (what the worker loads it as). */
export const LLAVA_ONEVISION_ARCHITECTURE = "LlavaOnevisionForConditionalGeneration";

/** Problems found before any work started; the run did nothing. */
export class PreflightError extends Error {
  readonly exitCode = 1;
  constructor(readonly problems: string[]) {
    super(problems.join("\n"));
    this.name = "PreflightError";
  }
}

/** `results_dir (configs/x.yaml:4:14)`, `results_dir (--set results_dir=out)`, `results_dir (default "results")`. */
function keyRef(loaded: LoadedConfig, key: string, cwd: string): string {
  const src = sourceOf(loaded.sources, key);
  if (src.kind === "default") {
    const value = key.split(".").reduce<unknown>((v, k) => (v && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined), loaded.config);
    return `${key} (default ${JSON.stringify(typeof value === "string" ? shown(value, cwd) : value)})`;
  }
  return `${key} (${showSource(src, cwd)})`;
}

function shown(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel && !rel.startsWith("..") && !rel.startsWith("/") ? rel : path;
}

/** Why `dir` cannot be created or written, or null: a file in the way, or no write permission. */
export function unwritableDirReason(dir: string): string | null {
  let p = resolve(dir);
  while (!existsSync(p)) {
    const parent = dirname(p);
    if (parent === p) break;
    p = parent;
  }
  let st;
  try {
    st = statSync(p);
  } catch (err) {
    return `cannot inspect ${p}: ${(err as Error).message}`;
  }
  if (!st.isDirectory()) return p === resolve(dir) ? `${p} is a file, not a directory` : `cannot create ${resolve(dir)}: ${p} is a file`;
  try {
    accessSync(p, constants.W_OK | constants.X_OK);
  } catch {
    return p === resolve(dir) ? `${p} is not writable` : `cannot create ${resolve(dir)}: ${p} is not writable`;
  }
  return null;
}

function readable(file: string): string | null {
  try {
    accessSync(file, constants.R_OK);
    return null;
  } catch (err) {
    return `${file}: not readable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
  }
}

/** A .safetensors file starts with an 8-byte little-endian header length, then that much JSON: cheap to verify. */
function safetensorsProblem(file: string): string | null {
  const size = statSync(file).size;
  if (size < 8) return `${file}: truncated (${size} bytes; not a safetensors file)`;
  const fd = openSync(file, "r");
  try {
    const head = Buffer.alloc(8);
    readSync(fd, head, 0, 8, 0);
    const n = head.readBigUInt64LE(0);
    if (n === 0n || n > BigInt(size - 8)) return `${file}: not a safetensors file or truncated (header of ${n} bytes, file of ${size})`;
  } finally {
    closeSync(fd);
  }
  return null;
}

/**
 * Problems with a local LLaVA-OneVision checkpoint folder (empty list when it looks loadable): config.json
 * present, parseable and naming the LLaVA-OneVision architecture; tokenizer files; weight files present,
 * readable and (safetensors) not truncated. Mirrors py/linkedout/extract/backbone.py `check_model_dir`,
 * which guards the worker when the op is called without this check.
 */
export function modelFolderProblems(dir: string): string[] {
  const problems: string[] = [];
  const configFile = join(dir, "config.json");
  if (!existsSync(configFile)) {
    problems.push(`${configFile}: missing (a LLaVA-OneVision checkpoint folder has config.json, tokenizer files and *.safetensors weights)`);
  } else {
    const unreadable = readable(configFile);
    if (unreadable) problems.push(unreadable);
    else {
      let cfg: unknown;
      try {
        cfg = JSON.parse(readFileSync(configFile, "utf8"));
      } catch (err) {
        problems.push(`${configFile}: not valid JSON (${(err as Error).message})`);
      }
      if (cfg !== undefined) {
        const c = (cfg && typeof cfg === "object" ? cfg : {}) as { architectures?: unknown; model_type?: unknown };
        const archs = Array.isArray(c.architectures) ? c.architectures.map(String) : [];
        if (archs.length > 0 ? !archs.includes(LLAVA_ONEVISION_ARCHITECTURE) : c.model_type !== "llava_onevision") {
          const found = archs.length > 0 ? `architectures ${JSON.stringify(archs)}` : `model_type ${JSON.stringify(c.model_type ?? null)} and no architectures`;
          problems.push(`${configFile}: ${found} is not a LLaVA-OneVision video model (expected "${LLAVA_ONEVISION_ARCHITECTURE}")`);
        }
      }
    }
  }
  const tokenizer = ["tokenizer.json", "tokenizer.model", "vocab.json"].map((f) => join(dir, f)).filter((f) => existsSync(f));
  if (tokenizer.length === 0) problems.push(`${dir}: no tokenizer files (expected tokenizer.json, tokenizer.model or vocab.json)`);
  for (const f of tokenizer) {
    const r = readable(f);
    if (r) problems.push(r);
  }
  problems.push(...weightProblems(dir));
  return problems;
}

function weightProblems(dir: string): string[] {
  for (const index of ["model.safetensors.index.json", "pytorch_model.bin.index.json"]) {
    const file = join(dir, index);
    if (!existsSync(file)) continue;
    let shards: string[];
    try {
      const map = (JSON.parse(readFileSync(file, "utf8")) as { weight_map?: Record<string, string> }).weight_map ?? {};
      shards = [...new Set(Object.values(map))].sort();
    } catch (err) {
      return [`${file}: not a readable weight index (${(err as Error).message})`];
    }
    if (shards.length === 0) return [`${file}: weight_map lists no files`];
    return shards.flatMap((s) => {
      const shard = join(dir, s);
      if (!existsSync(shard)) return [`${shard}: missing (listed in ${index})`];
      return [readable(shard) ?? (s.endsWith(".safetensors") ? safetensorsProblem(shard) : null)].filter((p): p is string => p !== null);
    });
  }
  for (const single of ["model.safetensors", "pytorch_model.bin"]) {
    const file = join(dir, single);
    if (!existsSync(file)) continue;
    const p = readable(file) ?? (single.endsWith(".safetensors") ? safetensorsProblem(file) : null);
    return p ? [p] : [];
  }
  return [`${dir}: no weight files (expected model.safetensors, model.safetensors.index.json with its shards, or pytorch_model.bin)`];
}

/** Every leaf key path of a config (`model.path`, `train.lr.ranker`, …); list elements are left out. */
function leafPaths(value: unknown, prefix: string[] = []): string[] {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return prefix.length ? [prefix.join(".")] : [];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => leafPaths(v, [...prefix, k]));
}

/**
 * Where the config keys an error message names came from, e.g. ` [model.path: --set model.path=org/x]`,
 * for errors raised while a stage runs (a worker names the key, not the file that set it); "" if none.
 */
export function configSourcesNote(message: string, loaded: LoadedConfig, cwd = process.cwd()): string {
  // dotted or underscored keys only: `name`, `ranking`, `strict` are ordinary words in a message
  const keys = leafPaths(loaded.config).filter((key) => /[._]/.test(key) && !key.startsWith("$"));
  const named = keys.filter((key) => new RegExp(`(^|[^\\w.])${key.replace(/\./g, "\\.")}($|[^\\w.])`).test(message));
  return named.length ? ` [${named.map((key) => `${key}: ${showSource(sourceOf(loaded.sources, key), cwd)}`).join("; ")}]` : "";
}

/** Every problem with a resolved config that can be found without starting a worker (empty: go ahead). */
export function preflightProblems(loaded: LoadedConfig, cwd = process.cwd(), opts: { writesResults?: boolean } = {}): string[] {
  const { config } = loaded;
  const problems: string[] = [];
  const outDirs: [string, string][] = [
    ...((opts.writesResults ?? true) ? [["results_dir", join(config.results_dir, config.name)] as [string, string]] : []),
    ["cache_dir", config.cache_dir],
  ];
  for (const [key, dir] of outDirs) {
    const why = unwritableDirReason(dir);
    if (why) problems.push(`${keyRef(loaded, key, cwd)}: ${why}`);
  }

  const d = config.dataset;
  if (d.source === "microlens" && d.dir !== "") {
    try {
      const ds = loadMicroLens(d.dir, splitOptions(config));
      checkUsersLeft(officialSplit(ds.interactions, { lineSequences: ds.files.pairsFormat === "tsv" }), ds.files.pairs);
    } catch (err) {
      if (!(err instanceof Error) || err.name !== "DataError") throw err;
      problems.push(`${keyRef(loaded, "dataset.dir", cwd)}: ${err.message}`);
    }
  }

  try {
    checkBeforeRun(config); // side channels the config names but the data lacks
  } catch (err) {
    if (!(err instanceof Error) || err.name !== "DataError") throw err;
    problems.push(err.message);
  }

  const modelPath = String(config.model.path ?? "");
  // "" = the tiny model, built on first use; a hub id is resolved by the worker (no hub here to ask).
  if (usesContent(config) && modelPath !== "" && existsSync(modelPath) && statSync(modelPath).isDirectory()) {
    for (const p of modelFolderProblems(modelPath)) problems.push(`${keyRef(loaded, "model.path", cwd)}: ${p}`);
  }
  return problems;
}
