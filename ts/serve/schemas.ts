// The HTTP API's JSON Schemas (schemas/serve/) compiled once with ajv 2020-12, and ajv errors turned
// into one line that names the field, e.g. `history: must NOT have fewer than 1 items`.
import { readFileSync } from "node:fs";
import path from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import type { ErrorObject, ValidateFunction } from "ajv";
import { REPO_ROOT } from "../worker/index.js";

export const SERVE_SCHEMA_DIR = path.join(REPO_ROOT, "schemas", "serve");

export type ServeSchemaName = "recommend.request" | "recommend.response" | "error" | "health.response";

let compiled: Map<ServeSchemaName, ValidateFunction> | null = null;

function validators(): Map<ServeSchemaName, ValidateFunction> {
  if (compiled) return compiled;
  // useDefaults fills k/gates/exclude of a request in place, so the schema is the single source of defaults
  const ajv = new Ajv2020.default({ allErrors: false, strict: true, useDefaults: true });
  const names: ServeSchemaName[] = ["recommend.request", "recommend.response", "error", "health.response"];
  compiled = new Map(
    names.map((n) => [n, ajv.compile(JSON.parse(readFileSync(path.join(SERVE_SCHEMA_DIR, `${n}.schema.json`), "utf8")) as object)]),
  );
  return compiled;
}

/** One line per the first problem, naming the field (JSON pointer as a dotted path), or null if valid. */
export function serveSchemaProblem(name: ServeSchemaName, data: unknown): string | null {
  const validate = validators().get(name)!;
  if (validate(data)) return null;
  return describe(validate.errors?.[0]);
}

function describe(err: ErrorObject | undefined): string {
  if (!err) return "invalid";
  const where = err.instancePath.replace(/^\//, "").replace(/\//g, ".");
  if (err.keyword === "additionalProperties") {
    const extra = (err.params as { additionalProperty: string }).additionalProperty;
    return `${where ? `${where}.` : ""}${extra}: unknown field`;
  }
  if (err.keyword === "required") {
    const missing = (err.params as { missingProperty: string }).missingProperty;
    return `${where ? `${where}.` : ""}${missing}: required field is missing`;
  }
  return `${where || "body"}: ${err.message ?? "invalid"}`;
}
