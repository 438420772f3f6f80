// TypeScript types of every worker op's args, generated from schemas/protocol/ops/<op>.args.schema.json
// by json-schema-to-typescript into ts/worker/generated/ops.ts: the `OpArgs` map that types
// `WorkerClient.call` and `WorkerPool.call`, and the ops marked `"x-idempotent": true` (IDEMPOTENT_OPS).
// `npm run gen:config` writes it; test/config/generated.test.ts fails when the committed file differs.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { compile, type JSONSchema } from "json-schema-to-typescript";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const OPS_TS_FILE = join(ROOT, "ts", "worker", "generated", "ops.ts");

const BANNER = [
  "// generated, do not edit: `npm run gen:config` (scripts/gen-ops.ts) writes this file from",
  "// schemas/protocol/ops/<op>.args.schema.json; change the schema, then regenerate.",
  "/* eslint-disable */",
].join("\n");

type Node = { [key: string]: unknown };
const isNode = (v: unknown): v is Node => typeof v === "object" && v !== null && !Array.isArray(v);
export const pascal = (s: string) => s.replace(/(^|_)([a-z])/g, (_m, _u, c: string) => c.toUpperCase());

/** The op schemas, op name → parsed schema, in name order. */
export function opSchemas(schemaDir: string): [string, Node][] {
  const dir = join(schemaDir, "protocol", "ops");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".args.schema.json"))
    .sort()
    .map((f) => [f.slice(0, -".args.schema.json".length), JSON.parse(readFileSync(join(dir, f), "utf8")) as Node]);
}

/**
 * A free-form object (`type: object` without properties, e.g. a config section the worker checks
 * itself) is typed `object`, which every interface is assignable to; `{[k: string]: unknown}` is not.
 */
function openObjects(node: Node): Node {
  const out: Node = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === "properties" && isNode(v)) out.properties = Object.fromEntries(Object.entries(v).map(([p, s]) => [p, isNode(s) ? openObjects(s) : s]));
    else if (k === "items" && isNode(v)) out.items = openObjects(v);
    else out[k] = v;
  }
  if (out.type === "object" && !("properties" in out) && !("$ref" in out)) out.tsType = "object";
  // no constraint on the value (echo's `value`: any JSON)
  if (!["type", "enum", "const", "$ref", "anyOf", "oneOf", "allOf", "properties", "items"].some((k) => k in out)) out.tsType = "unknown";
  return out;
}

export const TOKENSTORE_TS_FILE = join(ROOT, "ts", "schedule", "generated", "tokenstore.ts");

/** TS types of the TokenStore files the scheduler reads: the manifest and a shard summary. */
export async function generateTokenStoreTypes(schemaDir: string): Promise<string> {
  const read = (file: string) => {
    const { $schema: _s, $id: _i, ...rest } = JSON.parse(readFileSync(join(schemaDir, file), "utf8")) as Node;
    return rest;
  };
  const root = {
    title: "TokenStoreFiles",
    type: "object",
    additionalProperties: false,
    required: ["manifest", "shard_summary"],
    properties: {
      manifest: { ...read("tokenstore.manifest.schema.json"), title: "TokenStoreManifest" },
      shard_summary: { ...read(join("stages", "tokenstore.shard-summary.schema.json")), title: "ShardSummary" },
    },
  };
  return compile(root as JSONSchema, "TokenStoreFiles", {
    bannerComment: [
      "// generated, do not edit: `npm run gen:config` (scripts/gen-ops.ts) writes this file from",
      "// schemas/tokenstore.manifest.schema.json and schemas/stages/tokenstore.shard-summary.schema.json.",
      "/* eslint-disable */",
    ].join("\n"),
    additionalProperties: false,
    ignoreMinAndMaxItems: true,
    unknownAny: true,
    strictIndexSignatures: true,
    style: { printWidth: 120, singleQuote: false, trailingComma: "all" },
  });
}

/** The generated file's text. */
export async function generateOpTypes(schemaDir: string): Promise<string> {
  const ops = opSchemas(schemaDir);
  const properties: Node = {};
  for (const [op, schema] of ops) {
    const { $schema: _s, $id: _i, title: _t, ...rest } = schema;
    const { tsType: _root, ...args } = openObjects(rest); // the op's own args stay an interface, even when empty
    properties[op] = { ...args, title: `${pascal(op)}Args` };
  }
  const root = {
    title: "OpArgs",
    description: "Each op's args, by op name (schemas/protocol/ops/<op>.args.schema.json).",
    type: "object",
    additionalProperties: false,
    required: ops.map(([op]) => op),
    properties,
  };
  const types = await compile(root as JSONSchema, "OpArgs", {
    bannerComment: BANNER,
    additionalProperties: false,
    ignoreMinAndMaxItems: true,
    unknownAny: true,
    strictIndexSignatures: true,
    cwd: join(schemaDir, "protocol", "ops"),
    style: { printWidth: 120, singleQuote: false, trailingComma: "all" },
  });
  const idempotent = ops.filter(([, s]) => s["x-idempotent"] === true).map(([op]) => JSON.stringify(op));
  return [
    types.trimEnd(),
    "",
    "/** An op the worker registry serves. */",
    "export type OpName = keyof OpArgs;",
    "",
    "/** Ops whose schema says `\"x-idempotent\": true`: a second run after the first died part-way gives the same result. */",
    `export const IDEMPOTENT_OPS: ReadonlySet<OpName> = new Set<OpName>([${idempotent.join(", ")}]);`,
    "",
  ].join("\n");
}
