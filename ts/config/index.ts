// Experiment configs: schema defaults → YAML (with `extends:` chains) → `--set a.b=v`, validated by
// ajv against schemas/experiment.schema.json. Every error is one line `file:line:col key.path: problem`.
import { existsSync, readFileSync, realpathSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import type { ErrorObject, ValidateFunction } from "ajv";
import { Document, isMap, isPair, isScalar, isSeq, parse as parseYaml, type Node } from "yaml";
import { didYouMean, loadSchemaBundle, lookupPath, type PathKind, type SchemaBundle, type SchemaNode } from "./schema.js";
import type { ExperimentConfig } from "./types.js";
import { canonicalPath } from "../util/fs.js";
import {
  joinPath,
  LocatedProblem,
  parseYamlFile,
  type SourceLoc,
  type SourceMap,
  type ValueSource,
} from "./yaml-source.js";

export * from "./types.js";
export type { SourceLoc, SourceMap, ValueSource } from "./yaml-source.js";

export interface LoadConfigOptions {
  /** `a.b=v` overrides, applied after the YAML, typed by the schema. */
  sets?: readonly string[];
  /** check that `x-path` file/dir values exist (default true); "report": list missing ones in
   *  `LoadedConfig.pathProblems` instead of throwing (`config show` of a config whose data is not here yet) */
  checkPaths?: boolean | "report";
  /** base for `--set` paths and for displaying file names (default process.cwd()) */
  cwd?: string;
  /** schema folder (tests only; default the repository's schemas/) */
  schemaDir?: string;
}

export interface LoadedConfig {
  /** validated, defaults filled, paths absolute, `extends` merged away */
  config: ExperimentConfig;
  /** where each key path's value came from (file:line:col, `--set`, or schema default) */
  sources: SourceMap;
  /** absolute path of the config file named on the command line */
  file: string;
  /** the `extends` chain, this file first */
  chain: string[];
  sets: string[];
  /** with `checkPaths: "report"`: one line per missing or mistyped path (otherwise thrown) */
  pathProblems?: string[];
}

/** One or more config problems, each one line with its location (the CLI prints them, exit code 1). */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join("\n"));
    this.name = "ConfigError";
  }
}

type Data = Record<string, unknown>;
type Seg = string | number;

const isPlainObject = (v: unknown): v is Data => typeof v === "object" && v !== null && !Array.isArray(v);

function getAt(data: unknown, path: readonly Seg[]): unknown {
  let cur = data;
  for (const s of path) {
    if (Array.isArray(cur)) cur = cur[Number(s)];
    else if (isPlainObject(cur)) cur = Object.hasOwn(cur, String(s)) ? cur[String(s)] : undefined;
    else return undefined;
  }
  return cur;
}

function deepMerge(base: Data, over: Data): Data {
  const out: Data = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isPlainObject(b) && isPlainObject(v) ? deepMerge(b, v) : structuredClone(v);
  }
  return out;
}

function splitPath(p: string): string[] {
  return p === "" ? [] : p.split(".");
}

/** A file name for messages: relative to cwd when inside it, else absolute. */
function displayFile(file: string, cwd: string): string {
  const rel = relative(cwd, file);
  return rel === "" || rel.startsWith("..") || isAbsolute(rel) ? file : rel;
}

/** Formats source locations for humans: file names relative to cwd. */
class Locator {
  constructor(
    private readonly sources: SourceMap,
    private readonly rootFile: string,
    private readonly cwd: string,
  ) {}

  show(loc: SourceLoc): string {
    return `${displayFile(loc.file, this.cwd)}:${loc.line}:${loc.col}`;
  }

  /** Where the value (or key) at `path` was written; falls back to the nearest written ancestor. */
  where(path: readonly Seg[], which: "key" | "value"): string {
    for (let n = path.length; n >= 0; n--) {
      const src = this.sources.get(joinPath(path.slice(0, n)));
      if (!src) continue;
      if (src.kind === "set") return `--set ${src.arg}`;
      if (src.kind === "file") return this.show(n === path.length && which === "value" ? src.value : src.key);
    }
    return this.show({ file: this.rootFile, line: 1, col: 1 });
  }
}

function describeValue(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "string") return `string ${JSON.stringify(v)}`;
  return `${typeof v} ${String(v)}`;
}

/** Read a config file and everything it extends, child values winning. */
function loadChain(file: string, stack: string[], cwd: string): { data: Data; sources: SourceMap; chain: string[] } {
  const parsed = parseYamlFile(file, displayFile(file, cwd));
  // Locations inside one file are stored with absolute file names; Locator shortens them.
  const sources: SourceMap = new Map();
  for (const [k, v] of parsed.sources) {
    sources.set(k, v.kind === "file" ? { ...v, key: { ...v.key, file }, value: { ...v.value, file } } : v);
  }
  const ext = parsed.data.extends;
  const here = realpathSync(file);
  if (ext === undefined || ext === null || ext === "") return { data: parsed.data, sources, chain: [file] };
  const extSrc = sources.get("extends");
  const loc = extSrc?.kind === "file" ? extSrc.value : { file, line: 1, col: 1 };
  const locator = new Locator(sources, file, cwd);
  if (typeof ext !== "string")
    throw new ConfigError([`${locator.show(loc)} extends: must be a string (a path), got ${describeValue(ext)}`]);
  const parentFile = resolve(dirname(file), ext);
  if (!existsSync(parentFile) || !statSync(parentFile).isFile())
    throw new ConfigError([`${locator.show(loc)} extends: file not found: ${displayFile(parentFile, cwd)}`]);
  const parentReal = realpathSync(parentFile);
  const cycleAt = [...stack, here].indexOf(parentReal);
  if (cycleAt >= 0) {
    const ring = [...stack, here].slice(cycleAt).concat(parentReal).map((f) => displayFile(f, cwd));
    throw new ConfigError([`${locator.show(loc)} extends: cycle ${ring.join(" → ")}`]);
  }
  const parent = loadChain(parentFile, [...stack, here], cwd);
  const data = deepMerge(parent.data, parsed.data);
  // Parent sources survive where the child did not replace them.
  const merged: SourceMap = new Map();
  for (const [k, v] of parent.sources) {
    if (!sources.has(k) && getAt(data, splitPath(k)) !== undefined) merged.set(k, v);
  }
  for (const [k, v] of sources) merged.set(k, v);
  return { data, sources: merged, chain: [file, ...parent.chain] };
}

/** Parse `--set a.b=v`, typing v by the schema: strings stay raw, everything else is read as YAML. */
function applySet(data: Data, sources: SourceMap, arg: string, bundle: SchemaBundle): void {
  const eq = arg.indexOf("=");
  if (eq <= 0) throw new ConfigError([`--set ${arg}: expected key.path=value`]);
  const keyPath = arg.slice(0, eq);
  const raw = arg.slice(eq + 1);
  const path = keyPath.split(".");
  if (path.some((s) => s === "")) throw new ConfigError([`--set ${arg} ${keyPath}: empty segment in key path`]);
  // Node decodes argv with replacement characters: a U+FFFD here means bytes that were not UTF-8.
  if (arg.includes("\ufffd")) throw new ConfigError([`--set ${arg} ${keyPath}: not UTF-8 (the argument holds U+FFFD where its bytes could not be decoded; check the shell's encoding)`]);
  if (path[0] === "extends" || path[0] === "$schema")
    throw new ConfigError([`--set ${arg} ${keyPath}: cannot be set from the command line`]);
  const found = lookupPath(path, bundle);
  if (!found.node) {
    const bad = path[found.validDepth]!;
    const badPath = path.slice(0, found.validDepth + 1).join(".");
    const guess = didYouMean(bad, found.allowedKeys);
    const hint = guess
      ? ` (did you mean "${[...path.slice(0, found.validDepth), guess].join(".")}"?)`
      : found.allowedKeys.length
        ? ` (allowed here: ${found.allowedKeys.join(", ")})`
        : "";
    throw new ConfigError([`--set ${arg} ${badPath}: unknown key${hint}`]);
  }
  const types = new Set(Array.isArray(found.node.type) ? found.node.type : []);
  let value: unknown = raw;
  const onlyString = types.size > 0 && [...types].every((t) => t === "string");
  if (!onlyString) {
    try {
      value = parseYaml(raw);
    } catch (err) {
      throw new ConfigError([`--set ${arg} ${keyPath}: value is not valid YAML: ${(err as Error).message.split("\n")[0]}`]);
    }
    // `--set name=123` where name is a string: keep the text.
    if (types.has("string") && typeof value !== "string" && !typesAccept(types, value)) value = raw;
  }
  let cur: Data = data;
  for (const seg of path.slice(0, -1)) {
    const next = cur[seg];
    if (!isPlainObject(next)) cur[seg] = {};
    cur = cur[seg] as Data;
  }
  cur[path[path.length - 1]!] = value;
  for (const k of [...sources.keys()]) if (k === keyPath || k.startsWith(`${keyPath}.`)) sources.delete(k);
  sources.set(keyPath, { kind: "set", arg });
}

function typesAccept(types: Set<string>, v: unknown): boolean {
  if (v === null) return types.has("null");
  if (Array.isArray(v)) return types.has("array");
  if (typeof v === "number") return types.has("number") || (types.has("integer") && Number.isInteger(v));
  if (typeof v === "boolean") return types.has("boolean");
  if (typeof v === "object") return types.has("object");
  return types.has(typeof v);
}

function pointerToPath(pointer: string): string[] {
  return pointer
    .split("/")
    .slice(1)
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

/** Turn ajv's errors into one line per mistake (composite anyOf/oneOf noise folded). */
function describeAjvErrors(errors: readonly ErrorObject[], locator: Locator, data: unknown): string[] {
  interface Item {
    path: string[];
    which: "key" | "value";
    keyword: string;
    problem: string;
    types?: string[];
  }
  const items: Item[] = [];
  for (const e of errors) {
    const path = pointerToPath(e.instancePath);
    const p = e.params as Record<string, unknown>;
    switch (e.keyword) {
      case "additionalProperties": {
        const key = String(p.additionalProperty);
        const allowed = Object.keys((e.parentSchema as SchemaNode | undefined)?.properties ?? {});
        const guess = didYouMean(key, allowed);
        const hint = guess
          ? ` (did you mean "${guess}"?)`
          : allowed.length
            ? ` (allowed here: ${allowed.join(", ")})`
            : " (this section takes no keys yet)";
        items.push({ path: [...path, key], which: "key", keyword: e.keyword, problem: `unknown key${hint}` });
        break;
      }
      case "required":
        items.push({ path: [...path, String(p.missingProperty)], which: "key", keyword: e.keyword, problem: "required key is missing" });
        break;
      case "type": {
        const types = String(p.type).split(",");
        items.push({ path, which: "value", keyword: e.keyword, problem: "", types });
        break;
      }
      case "enum": {
        const allowed = (p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ");
        items.push({ path, which: "value", keyword: e.keyword, problem: `must be one of ${allowed}, got ${JSON.stringify(e.data)}` });
        break;
      }
      case "const":
        items.push({ path, which: "value", keyword: e.keyword, problem: `must be ${JSON.stringify(p.allowedValue)}, got ${JSON.stringify(e.data)}` });
        break;
      case "minimum":
      case "maximum":
      case "exclusiveMinimum":
      case "exclusiveMaximum":
        items.push({ path, which: "value", keyword: e.keyword, problem: `must be ${String(p.comparison)} ${String(p.limit)}, got ${JSON.stringify(e.data)}` });
        break;
      case "pattern":
        items.push({ path, which: "value", keyword: e.keyword, problem: `must match ${String(p.pattern)}, got ${JSON.stringify(e.data)}` });
        break;
      default:
        items.push({ path, which: "value", keyword: e.keyword, problem: `${e.message ?? "is invalid"}` });
    }
  }
  const composite = new Set(["anyOf", "oneOf", "if", "allOf", "not"]);
  const key = (it: Item) => joinPath(it.path);
  const groups = new Map<string, Item[]>();
  for (const it of items) groups.set(key(it), [...(groups.get(key(it)) ?? []), it]);
  const lines: string[] = [];
  for (const [k, group] of groups) {
    const specific = group.filter((g) => !composite.has(g.keyword));
    const onlyShape = specific.every((g) => g.keyword === "type");
    const deeper = [...groups.keys()].some((other) => other !== k && (k === "" || other.startsWith(`${k}.`)));
    // A branch of anyOf [object, null] failed deeper down: the deeper line says what is wrong.
    if (onlyShape && deeper && group.some((g) => composite.has(g.keyword) || g.keyword === "type")) continue;
    const first = group[0]!;
    let problem: string;
    const typeErrs = specific.filter((g) => g.keyword === "type");
    if (typeErrs.length > 0 && typeErrs.length === specific.length) {
      const want = [...new Set(typeErrs.flatMap((g) => g.types ?? []))];
      const value = getAt(data, first.path);
      problem = `must be ${want.join(" or ")}, got ${describeValue(value)}`;
    } else {
      problem = (specific.find((g) => g.keyword !== "type") ?? specific[0] ?? first).problem;
    }
    const which = (specific[0] ?? first).which;
    lines.push(`${locator.where(first.path, which)} ${joinPath(first.path) || "(top level)"}: ${problem}`);
  }
  return lines;
}

/** Apply `x-path`: make paths absolute (relative to the file that set them) and check they exist. */
function resolvePaths(data: Data, sources: SourceMap, locator: Locator, cwd: string, check: boolean, bundle: SchemaBundle): string[] {
  const problems: string[] = [];
  const visit = (value: unknown, path: Seg[]): void => {
    if (isPlainObject(value)) {
      for (const [k, v] of Object.entries(value)) visit(v, [...path, k]);
      return;
    }
    if (Array.isArray(value)) {
      value.forEach((v, i) => visit(v, [...path, i]));
      return;
    }
    if (typeof value !== "string" || value === "") return;
    const node = lookupPath(path.map(String), bundle).node;
    const kind = node?.["x-path"] as PathKind | undefined;
    if (!kind) return;
    const src = sourceOf(sources, joinPath(path));
    const base = src.kind === "file" ? dirname(src.value.file) : cwd;
    const looksLikeHubId = /^[\w.-]+\/[\w.-]+$/.test(value);
    const expanded = value === "~" || value.startsWith("~/") ? homedir() + value.slice(1) : value;
    // Canonical (resolved, no trailing slash, symlinks followed): stage keys hash these paths, so
    // `ds/`, `./ds` and a symlink to ds must be one spelling (docs/running.md, "the cache").
    const abs = canonicalPath(expanded, base);
    const setAt = (v: string) => {
      const parent = getAt(data, path.slice(0, -1));
      const last = path[path.length - 1]!;
      if (Array.isArray(parent)) parent[Number(last)] = v;
      else if (isPlainObject(parent)) parent[String(last)] = v;
    };
    if (kind === "dir-or-hub-id" && looksLikeHubId && !existsSync(abs)) return; // a hub id: the worker resolves it
    setAt(abs);
    if (!check || kind === "out") return;
    const where = locator.where(path, "value");
    const shown = displayFile(abs, cwd);
    if (!existsSync(abs)) {
      problems.push(`${where} ${joinPath(path)}: ${kind === "file" ? "file" : "directory"} not found: ${shown}`);
    } else if (kind === "file" && !statSync(abs).isFile()) {
      problems.push(`${where} ${joinPath(path)}: not a file: ${shown}`);
    } else if (kind !== "file" && !statSync(abs).isDirectory()) {
      problems.push(`${where} ${joinPath(path)}: not a directory: ${shown}`);
    }
  };
  visit(data, []);
  return problems;
}

/** Put mapping keys in schema order (as documented), in place, so `config show` reads like the schema. */
function orderBySchema(value: unknown, path: string[], bundle: SchemaBundle): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => orderBySchema(v, [...path, String(i)], bundle));
    return;
  }
  if (!isPlainObject(value)) return;
  const node = lookupPath(path, bundle).node;
  const order = Object.keys(node?.properties ?? {});
  const keys = Object.keys(value).sort((a, b) => rank(a) - rank(b));
  function rank(k: string): number {
    const i = order.indexOf(k);
    return i < 0 ? order.length : i;
  }
  for (const k of keys) {
    const v = value[k];
    delete value[k];
    value[k] = v; // re-inserted in order: string keys keep insertion order
    orderBySchema(v, [...path, k], bundle);
  }
}

/**
 * Where the value at a dot path came from. A YAML file records every key it writes, so a path under
 * a file-set mapping that is not recorded was filled by a schema default; a `--set` of a whole
 * mapping or list covers everything under it.
 */
export function sourceOf(sources: SourceMap, path: string): ValueSource {
  const segs = splitPath(path);
  const own = sources.get(path);
  if (own) return own;
  for (let n = segs.length - 1; n >= 1; n--) {
    const src = sources.get(segs.slice(0, n).join("."));
    if (src) return src.kind === "set" ? src : { kind: "default" };
  }
  return { kind: "default" };
}

/**
 * Load an experiment config: YAML file (and its `extends` chain), then `--set` overrides, then
 * schema validation with defaults. Throws ConfigError with one line per problem.
 */
export async function loadConfig(path: string, options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  return loadConfigSync(path, options);
}

export function loadConfigSync(path: string, options: LoadConfigOptions = {}): LoadedConfig {
  const cwd = options.cwd ?? process.cwd();
  const file = resolve(cwd, path);
  const sets = [...(options.sets ?? [])];
  let chainResult: ReturnType<typeof loadChain>;
  try {
    chainResult = loadChain(file, [], cwd);
  } catch (err) {
    if (err instanceof LocatedProblem) throw new ConfigError([err.message]);
    throw err;
  }
  const { data, sources, chain } = chainResult;
  delete data.extends;
  delete data.$schema;
  for (const k of [...sources.keys()]) if (k === "extends" || k === "$schema") sources.delete(k);
  const bundle = loadSchemaBundle(options.schemaDir);
  for (const arg of sets) applySet(data, sources, arg, bundle);

  const locator = new Locator(sources, file, cwd);
  const candidate = structuredClone(data);
  if (!bundle.validate(candidate)) {
    const lines = describeAjvErrors(bundle.validate.errors ?? [], locator, candidate);
    throw new ConfigError(lines.length ? lines : [`${displayFile(file, cwd)}: invalid config`]);
  }
  const checkPaths = options.checkPaths ?? true;
  const problems = resolvePaths(candidate, sources, locator, cwd, checkPaths !== false, bundle);
  if (problems.length && checkPaths !== "report") throw new ConfigError(problems);
  orderBySchema(candidate, [], bundle);
  return { config: candidate, sources, file, chain, sets, ...(checkPaths === "report" ? { pathProblems: problems } : {}) };
}

/** What an empty config resolves to: every schema default (paths as written in the schema, not resolved). */
export function configDefaults(schemaDir?: string): ExperimentConfig {
  const bundle = loadSchemaBundle(schemaDir);
  const data: Data = {};
  if (!bundle.validate(data)) throw new Error(`schema defaults do not validate: ${JSON.stringify(bundle.validate.errors)}`);
  return data;
}

/**
 * Check one value for one config key against the schema, as a command-line flag that stands for the key
 * would set it (`lo-exp serve --port 70000` is `serve.port`): the problem (`must be <= 65535, got
 * 70000`), or undefined when the value is allowed. Lets a verb refuse a bad flag before any work starts.
 */
export function configValueProblem(keyPath: string, value: unknown): string | undefined {
  const bundle = loadSchemaBundle();
  const data: Data = {};
  bundle.validate(data); // fill every default
  const segs = keyPath.split(".");
  let node: unknown = data;
  for (const seg of segs.slice(0, -1)) node = isPlainObject(node) ? node[seg] : undefined;
  if (!isPlainObject(node)) throw new Error(`configValueProblem: no config section for ${keyPath}`);
  node[segs[segs.length - 1]!] = value;
  if (bundle.validate(data)) return undefined;
  const errors = bundle.validate.errors ?? [];
  const own = errors.find((e) => e.instancePath === `/${segs.join("/")}`) ?? errors[0];
  return `${own?.message ?? "not allowed"}, got ${JSON.stringify(value)}`;
}

const standaloneValidators = new Map<string, ValidateFunction>();

/**
 * Read a standalone YAML file (no `extends`, no `--set`) validated against one JSON Schema file,
 * with the same one-line `file:line:col key.path: problem` errors. Used for experiment tables.
 */
export function loadYamlWithSchema<T>(path: string, schemaFile: string, cwd = process.cwd()): { data: T; sources: SourceMap; file: string } {
  const file = resolve(cwd, path);
  let parsed: { data: Data; sources: SourceMap };
  try {
    parsed = parseYamlFile(file, displayFile(file, cwd));
  } catch (err) {
    if (err instanceof LocatedProblem) throw new ConfigError([err.message]);
    throw err;
  }
  const sources: SourceMap = new Map();
  for (const [k, v] of parsed.sources) {
    sources.set(k, v.kind === "file" ? { ...v, key: { ...v.key, file }, value: { ...v.value, file } } : v);
  }
  let validate = standaloneValidators.get(schemaFile);
  if (!validate) {
    const ajv = new Ajv2020.default({ allErrors: true, useDefaults: true, verbose: true, strict: true, strictTypes: false });
    validate = ajv.compile(JSON.parse(readFileSync(schemaFile, "utf8")) as object);
    standaloneValidators.set(schemaFile, validate);
  }
  const data = structuredClone(parsed.data);
  if (!validate(data)) {
    throw new ConfigError(describeAjvErrors(validate.errors ?? [], new Locator(sources, file, cwd), data));
  }
  return { data: data as T, sources, file };
}

/** Human form of a value's source: `configs/x.yaml:3:5`, `--set a.b=1`, or `default`. */
export function showSource(src: ValueSource, cwd = process.cwd()): string {
  if (src.kind === "set") return `--set ${src.arg}`;
  if (src.kind === "default") return "default";
  return `${displayFile(src.value.file, cwd)}:${src.value.line}:${src.value.col}`;
}

/** The resolved config as YAML, optionally with a `# source` comment on every leaf. */
export function configToYaml(loaded: LoadedConfig, opts: { sources?: boolean; cwd?: string } = {}): string {
  const doc = new Document(loaded.config);
  if (opts.sources) {
    const annotate = (node: Node | null, path: string[]): void => {
      if (isMap(node)) {
        for (const pair of node.items) {
          if (!isPair(pair)) continue;
          const k = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
          const v = pair.value as Node | null;
          const p = [...path, k];
          if (isMap(v) && v.items.length > 0) annotate(v, p);
          else if (v) {
            if (isMap(v) || isSeq(v)) v.flow = true; // keeps the comment on the key's line
            v.comment = ` ${showSource(sourceOf(loaded.sources, p.join(".")), opts.cwd)}`;
          }
        }
      }
    };
    annotate(doc.contents as Node | null, []);
  }
  return doc.toString({ lineWidth: 0 });
}
