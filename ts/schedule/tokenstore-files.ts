// TokenStore facts the scheduler reads, taken from the store's schemas (the Python writer's contract):
// the manifest (schemas/tokenstore.manifest.schema.json) and a shard summary
// (schemas/stages/tokenstore.shard-summary.schema.json): the format name, the file names (`x-file`,
// `x-data-file`, `x-part-file`), and the files' shapes (types generated from the same schemas into
// ./generated/tokenstore.ts; the files are checked against the schemas when read). TS never restates
// the Python format.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import type { ValidateFunction } from "ajv";
import { SCHEMA_DIR } from "../config/schema.js";
import type { ShardSummary, TokenStoreManifest } from "./generated/tokenstore.js";

export type { ShardSummary, TokenStoreManifest } from "./generated/tokenstore.js";

interface FileSchema {
  "x-file": string;
  "x-data-file"?: string;
  "x-part-file"?: string;
  properties: Record<string, { const?: unknown }>;
}

function readSchema(file: string): FileSchema {
  return JSON.parse(readFileSync(join(SCHEMA_DIR, file), "utf8")) as FileSchema;
}
const MANIFEST_SCHEMA_FILE = "tokenstore.manifest.schema.json";
const SUMMARY_SCHEMA_FILE = join("stages", "tokenstore.shard-summary.schema.json");
const manifestSchema = readSchema(MANIFEST_SCHEMA_FILE);
const summarySchema = readSchema(SUMMARY_SCHEMA_FILE);

/** The format name and version a store's manifest carries (its `format` const). */
export const TOKENSTORE_FORMAT = String(manifestSchema.properties.format?.const);

/** The manifest's file name in a store directory. */
export const MANIFEST_FILE = manifestSchema["x-file"];

const fill = (template: string | undefined, values: Record<string, number>): string =>
  String(template).replace(/\{(\w+)\}/g, (_m, k: string) => String(values[k]));

/** File names of shard `shard`: its summary and its committed data. */
export const shardSummaryFile = (shard: number): string => fill(summarySchema["x-file"], { shard });
export const shardDataFile = (shard: number): string => fill(summarySchema["x-data-file"], { shard });

const PART = new RegExp(`^${String(summarySchema["x-part-file"]).replace(/\./g, "\\.").replace("{shard}", "(\\d+)").replace("{part}", "\\d+")}$`);

/** Shards with part files (unfinished work), from one directory listing (not one per shard). */
export function shardsWithParts(storeDir: string): Set<number> {
  const out = new Set<number>();
  if (!existsSync(storeDir)) return out;
  for (const f of readdirSync(storeDir)) {
    const m = PART.exec(f);
    if (m) out.add(Number(m[1]));
  }
  return out;
}

let validators: { manifest: ValidateFunction; summary: ValidateFunction } | undefined;
function validator(kind: "manifest" | "summary"): ValidateFunction {
  if (!validators) {
    const ajv = new Ajv2020.default({ strict: true, allErrors: false });
    for (const k of ["x-file", "x-data-file", "x-part-file"]) ajv.addKeyword({ keyword: k, schemaType: "string" });
    validators = { manifest: ajv.compile(manifestSchema), summary: ajv.compile(summarySchema) };
  }
  return validators[kind];
}

/** A store file as its schema says; null when it is missing or not JSON; throws naming the file when it breaks the schema. */
function readChecked<T>(path: string, kind: "manifest" | "summary"): T | null {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return null;
  }
  const v = validator(kind);
  if (!v(data)) {
    const e = v.errors?.[0];
    throw new Error(`${path}: not a TokenStore ${kind === "manifest" ? "manifest" : "shard summary"}: ${e ? `${e.instancePath || "/"} ${e.message}` : "invalid"}`);
  }
  return data as T;
}

/** `<store>/shard-<i>.json`, or null when it is not there (yet). */
export function readShardSummary(storeDir: string, shard: number): ShardSummary | null {
  return readChecked<ShardSummary>(join(storeDir, shardSummaryFile(shard)), "summary");
}

/** `<store>/manifest.json`, or null when it is not there (yet). */
export function readManifest(storeDir: string): TokenStoreManifest | null {
  return readChecked<TokenStoreManifest>(join(storeDir, MANIFEST_FILE), "manifest");
}
