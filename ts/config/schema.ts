// The experiment schema on disk: schemas/experiment.schema.json plus one file per section under
// schemas/config/. This module loads them once, compiles the ajv validator, and answers "what does
// the schema say about key path a.b.c" (for --set typing and "did you mean").
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Ajv2020 from "ajv/dist/2020.js";
import type { ValidateFunction } from "ajv";
import type { ExperimentConfig } from "./types.js";

/** A JSON Schema node, as far as this loader reads it. */
export interface SchemaNode {
  $id?: string;
  $ref?: string;
  type?: string | string[];
  description?: string;
  default?: unknown;
  properties?: Record<string, SchemaNode>;
  additionalProperties?: boolean | SchemaNode;
  items?: SchemaNode;
  anyOf?: SchemaNode[];
  oneOf?: SchemaNode[];
  allOf?: SchemaNode[];
  enum?: unknown[];
  /** linkedout keyword: the string is a filesystem path, resolved relative to the config file that set it. */
  "x-path"?: PathKind;
  /** linkedout keyword: the key is read by the TypeScript scheduler only and never sent to a worker. */
  "x-scheduler-only"?: boolean;
  /** linkedout keyword (model and extract keys): whether the TokenStore's tokens depend on the key (its identity). */
  "x-store-identity"?: boolean;
  [key: string]: unknown;
}

/**
 * `x-path` values: `file` / `dir` must exist (empty string = unset, not checked); `dir-or-hub-id`
 * must exist unless it looks like a bare hub id `org/name` (no leading `/`, `./`, `../`, `~`);
 * `out` is an output location (file or folder), made absolute but not required to exist.
 * Paths are made absolute in the resolved config so later stages need not know where the YAML was:
 * relative to the config file that set them, to the working directory for `--set` and defaults.
 */
export type PathKind = "file" | "dir" | "dir-or-hub-id" | "out";
export const PATH_KINDS: readonly PathKind[] = ["file", "dir", "dir-or-hub-id", "out"];

export const SCHEMA_DIR = fileURLToPath(new URL("../../schemas/", import.meta.url));
export const EXPERIMENT_SCHEMA_ID = "https://linkedout.dev/schemas/experiment.schema.json";

export interface SchemaBundle {
  root: SchemaNode;
  /** every loaded schema by $id */
  byId: Map<string, SchemaNode>;
  /** ajv with `useDefaults`: fills every default in place; true = the data is a resolved config */
  validate: ValidateFunction<ExperimentConfig>;
}

const cached = new Map<string, SchemaBundle>();

function readJson(path: string): SchemaNode {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as SchemaNode;
  } catch (err) {
    throw new Error(`${path}: cannot read schema: ${(err as Error).message}`);
  }
}

/**
 * Load and compile the experiment schema and its section files (once per process and folder).
 * `checkMetaSchema` also validates each schema against the JSON Schema meta-schema (the test suite does).
 * `schemaDir` is for tests that need a schema variant; everything else uses the repository's.
 */
export function loadSchemaBundle(schemaDir: string = SCHEMA_DIR, opts: { checkMetaSchema?: boolean } = {}): SchemaBundle {
  const cacheKey = `${schemaDir}\0${opts.checkMetaSchema ? "meta" : ""}`;
  const hit = cached.get(cacheKey);
  if (hit) return hit;
  const root = readJson(join(schemaDir, "experiment.schema.json"));
  const byId = new Map<string, SchemaNode>();
  const sectionDir = join(schemaDir, "config");
  const sections = readdirSync(sectionDir)
    .filter((f) => f.endsWith(".schema.json"))
    .sort()
    .map((f) => readJson(join(sectionDir, f)));
  const ajv = new Ajv2020.default({
    allErrors: true,
    useDefaults: true,
    verbose: true,
    strict: true,
    // `default` next to `$ref` is how every section names its default; allowed in 2020-12.
    strictTypes: false,
    // Start-up time of every `lo-exp` call (~0.3 s → ~0.08 s of CPU): the schemas are checked against
    // the JSON Schema meta-schema by the test suite (test/config/configs.test.ts), not on each call,
    // and the validator of one small config needs no code optimisation.
    validateSchema: opts.checkMetaSchema ?? false,
    code: { optimize: false },
  });
  ajv.addKeyword({
    keyword: "x-path",
    schemaType: "string",
    metaSchema: { enum: [...PATH_KINDS] },
  });
  ajv.addKeyword({ keyword: "x-scheduler-only", schemaType: "boolean" });
  ajv.addKeyword({ keyword: "x-store-identity", schemaType: "boolean" });
  ajv.addKeyword({ keyword: "x-presets", schemaType: "object" }); // dataset.synthetic.preset: each preset's sizes (ts/data/synth.ts)
  for (const s of sections) {
    if (!s.$id) throw new Error(`schema under ${sectionDir} has no $id`);
    byId.set(s.$id, s);
    ajv.addSchema(s);
  }
  byId.set(root.$id ?? EXPERIMENT_SCHEMA_ID, root);
  const validate = ajv.compile<ExperimentConfig>(root);
  const bundle = { root, byId, validate };
  cached.set(cacheKey, bundle);
  return bundle;
}

/** Follow `$ref` (relative to the enclosing document's $id, with optional `#/...` pointer). */
export function deref(node: SchemaNode, baseId: string, bundle: SchemaBundle): { node: SchemaNode; baseId: string } {
  let cur = node;
  let base = baseId;
  for (let hops = 0; cur.$ref !== undefined && hops < 32; hops++) {
    const url = new URL(cur.$ref, base);
    const docId = url.href.replace(/#.*$/, "");
    const doc = bundle.byId.get(docId);
    if (!doc) throw new Error(`schema $ref ${cur.$ref} (from ${base}) not found`);
    let target: unknown = doc;
    const pointer = url.hash.replace(/^#/, "");
    for (const raw of pointer.split("/").filter(Boolean)) {
      const part = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
      target = (target as Record<string, unknown>)[part];
    }
    if (!target || typeof target !== "object") throw new Error(`schema $ref ${cur.$ref} points nowhere`);
    cur = target as SchemaNode;
    base = docId;
  }
  return { node: cur, baseId: base };
}

/** The object-schemas a node may be (itself, or its anyOf/oneOf/allOf branches), dereferenced. */
function branches(node: SchemaNode, baseId: string, bundle: SchemaBundle): { node: SchemaNode; baseId: string }[] {
  const d = deref(node, baseId, bundle);
  const out = [d];
  for (const k of ["anyOf", "oneOf", "allOf"] as const) {
    for (const b of d.node[k] ?? []) out.push(...branches(b, d.baseId, bundle));
  }
  return out;
}

export interface SchemaLookup {
  /** the schema of the value at the path, or undefined when the path is not allowed */
  node?: SchemaNode;
  baseId: string;
  /** for a failed lookup: how many leading segments were valid, and the keys allowed at the failure point */
  validDepth: number;
  allowedKeys: string[];
}

/** What the schema says about the value at `path` (segments). */
export function lookupPath(path: readonly string[], bundle: SchemaBundle): SchemaLookup {
  let cands = branches(bundle.root, bundle.root.$id ?? EXPERIMENT_SCHEMA_ID, bundle);
  for (let i = 0; i < path.length; i++) {
    const key = path[i]!;
    const next: { node: SchemaNode; baseId: string }[] = [];
    const allowed = new Set<string>();
    for (const c of cands) {
      const props = c.node.properties ?? {};
      for (const k of Object.keys(props)) allowed.add(k);
      if (Object.hasOwn(props, key)) next.push(...branches(props[key]!, c.baseId, bundle));
      else if (/^\d+$/.test(key) && c.node.items) next.push(...branches(c.node.items, c.baseId, bundle));
      else if (typeof c.node.additionalProperties === "object")
        next.push(...branches(c.node.additionalProperties, c.baseId, bundle));
    }
    if (next.length === 0) return { baseId: "", validDepth: i, allowedKeys: [...allowed].sort() };
    cands = next;
  }
  const first = cands[0]!;
  // Merge the branch types so --set can type the value (e.g. anyOf [integer, null]).
  const types = new Set<string>();
  for (const c of cands) {
    const t = c.node.type;
    if (Array.isArray(t)) t.forEach((x) => types.add(x));
    else if (t) types.add(t);
    else if (c.node.enum) c.node.enum.forEach((e) => types.add(e === null ? "null" : typeof e));
  }
  const merged: SchemaNode = { ...first.node, type: [...types] };
  return { node: merged, baseId: first.baseId, validDepth: path.length, allowedKeys: [] };
}

/** A section's keys marked `"x-scheduler-only": true` (sharding, retries): the worker's args leave them out. */
export function schedulerOnlyKeys(section: string, bundle: SchemaBundle = loadSchemaBundle()): string[] {
  const props = lookupPath([section], bundle).node?.properties ?? {};
  return Object.keys(props).filter((k) => props[k]?.["x-scheduler-only"] === true);
}

/** The config sections whose keys feed extraction: each key says `"x-store-identity": true | false`. */
export const STORE_IDENTITY_SECTIONS = ["model", "extract"] as const;

/**
 * A section's keys marked `"x-store-identity": true`: what the TokenStore's tokens depend on, so what
 * names the store (ts/schedule/extract.ts `extractionKeyParts`, Python `linkedout.extract.store_identity`).
 * A key marked neither true nor false throws: a new key must say whether it changes the tokens.
 */
export function storeIdentityKeys(section: (typeof STORE_IDENTITY_SECTIONS)[number], bundle: SchemaBundle = loadSchemaBundle()): string[] {
  const props = lookupPath([section], bundle).node?.properties ?? {};
  const unmarked = Object.keys(props).filter((k) => typeof props[k]?.["x-store-identity"] !== "boolean");
  if (unmarked.length) throw new Error(`schemas/config/${section}.schema.json: ${unmarked.map((k) => `${section}.${k}`).join(", ")} must say "x-store-identity": true or false`);
  return Object.keys(props).filter((k) => props[k]?.["x-store-identity"] === true);
}

/** Levenshtein distance, for "did you mean". */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/** The closest allowed key, if close enough to be a likely typo. */
export function didYouMean(key: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of allowed) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  const limit = Math.max(2, Math.floor(key.length / 3));
  return best !== undefined && bestD <= limit ? best : undefined;
}
