// `npm run gen:config`: every file generated from schemas/ (GENERATED_FILES below), the boundary
// between TypeScript and Python written once:
//   ts/config/generated/experiment.ts   TS types of the resolved experiment config (this file)
//   ts/worker/generated/ops.ts          TS op args map + IDEMPOTENT_OPS (scripts/gen-ops.ts)
//   ts/schedule/generated/tokenstore.ts TS types of the TokenStore manifest and shard summary (scripts/gen-ops.ts)
//   py/linkedout/config/generated.py    Python config section dataclasses (scripts/gen-python.ts)
//   py/linkedout/protocol/op_args.py    Python op args dataclasses (scripts/gen-python.ts)
// The schemas are the one definition of every key and default; test/config/generated.test.ts
// regenerates them all and fails when a committed file differs.
//
// What the generator is given is the schema of the *resolved* config: each section's file inlined
// under its key and named `<Section>Config`, and every key with a `default` required (the loader
// fills defaults before anything reads the config, so no key is ever missing).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { compile, type JSONSchema } from "json-schema-to-typescript";
import { generateOpTypes, generateTokenStoreTypes, OPS_TS_FILE, TOKENSTORE_TS_FILE } from "./gen-ops.js";
import { generatePythonConfig, generatePythonOpArgs, PY_CONFIG_FILE, PY_OPS_FILE } from "./gen-python.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SCHEMAS = join(ROOT, "schemas");
export const GENERATED_FILE = join(ROOT, "ts", "config", "generated", "experiment.ts");

const BANNER = [
  "// generated, do not edit: `npm run gen:config` (scripts/gen-config.ts) writes this file from",
  "// schemas/experiment.schema.json and schemas/config/*.schema.json; change the schema, then regenerate.",
  "/* eslint-disable */",
].join("\n");

type Node = { [key: string]: unknown };
const isNode = (v: unknown): v is Node => typeof v === "object" && v !== null && !Array.isArray(v);

/** Every key that has a default is present once resolved: list it in `required` (recursively). */
function resolvedShape(node: Node): Node {
  const out: Node = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === "$schema" || k === "$id") continue;
    if (k === "properties" && isNode(v)) {
      out.properties = Object.fromEntries(Object.entries(v).map(([p, s]) => [p, isNode(s) ? resolvedShape(s) : s]));
    } else if (k === "items" && isNode(v)) {
      out.items = resolvedShape(v);
    } else {
      out[k] = v;
    }
  }
  if (isNode(out.properties)) {
    const withDefault = Object.entries(out.properties).filter(([, s]) => isNode(s) && "default" in s).map(([p]) => p);
    const required = new Set([...((node.required as string[] | undefined) ?? []), ...withDefault]);
    if (required.size > 0) out.required = [...required];
  }
  return out;
}

const pascal = (s: string) => s.replace(/(^|_)([a-z])/g, (_m, _u, c: string) => c.toUpperCase());

/** The experiment schema with each section's file inlined (titled `<Section>Config`). */
export function resolvedExperimentSchema(schemaDir = SCHEMAS): Node {
  const root = JSON.parse(readFileSync(join(schemaDir, "experiment.schema.json"), "utf8")) as Node;
  const props = root.properties as Record<string, Node>;
  for (const [key, prop] of Object.entries(props)) {
    const ref = prop.$ref;
    if (typeof ref !== "string") continue;
    const section = JSON.parse(readFileSync(join(schemaDir, ref), "utf8")) as Node;
    const { $ref: _ref, ...rest } = prop;
    props[key] = { ...section, ...rest, title: `${pascal(key)}Config` };
  }
  return resolvedShape({ ...root, title: "ExperimentConfig" });
}

/** The generated file's text. */
export async function generateConfigTypes(schemaDir = SCHEMAS): Promise<string> {
  return compile(resolvedExperimentSchema(schemaDir) as JSONSchema, "ExperimentConfig", {
    bannerComment: BANNER,
    additionalProperties: false,
    ignoreMinAndMaxItems: true,
    unknownAny: true,
    strictIndexSignatures: true,
    cwd: schemaDir,
    style: { printWidth: 120, singleQuote: false, trailingComma: "all" },
  });
}

/** Every generated file and how to make it from a schemas/ folder. */
export const GENERATED_FILES: readonly { file: string; generate: (schemaDir?: string) => Promise<string> }[] = [
  { file: GENERATED_FILE, generate: (dir = SCHEMAS) => generateConfigTypes(dir) },
  { file: OPS_TS_FILE, generate: (dir = SCHEMAS) => generateOpTypes(dir) },
  { file: TOKENSTORE_TS_FILE, generate: (dir = SCHEMAS) => generateTokenStoreTypes(dir) },
  { file: PY_CONFIG_FILE, generate: async (dir = SCHEMAS) => generatePythonConfig(dir) },
  { file: PY_OPS_FILE, generate: async (dir = SCHEMAS) => generatePythonOpArgs(dir) },
];

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const { file, generate } of GENERATED_FILES) {
    writeFileSync(file, await generate());
    console.log(`wrote ${file}`);
  }
}
