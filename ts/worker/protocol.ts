/**
 * Wire protocol version 1: header types and their validation against schemas/protocol/*.schema.json
 * (the same files the Python worker validates with; see docs/protocol.md).
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import type { ErrorObject, ValidateFunction } from "ajv";
import { REPO_ROOT } from "./python.js";

export const PROTOCOL_VERSION = 1;
export const SCHEMA_DIR = path.join(REPO_ROOT, "schemas", "protocol");
const CONFIG_SCHEMA_DIR = path.join(REPO_ROOT, "schemas", "config");

export interface FrameDescriptor {
  name: string;
  layout: "tensor" | "table";
  bytes?: number;
  /** the stream is in this file of the client's shm directory; the socket frame is empty */
  shm?: string;
}
export interface RequestHeader {
  v: number;
  id: string;
  op: string;
  /** the op's args (ts/worker/generated/ops.ts `OpArgs`, from schemas/protocol/ops/) */
  args: object;
  frames: FrameDescriptor[];
  /** shm files the worker may overwrite with large results */
  shm_out?: string[];
}
export interface ProgressInfo {
  done: number;
  total: number | null;
  unit: string;
  message: string;
}
export interface ErrorInfo {
  type: string;
  message: string;
  traceback?: string;
  op?: string;
}
export type ReplyHeader =
  | { v: 1; id: string; kind: "result"; result: Record<string, unknown>; frames: FrameDescriptor[] }
  | { v: 1; id: string | null; kind: "error"; error: ErrorInfo }
  | { v: 1; id: string; kind: "progress"; progress: ProgressInfo }
  | { v: 1; kind: "heartbeat"; t: number; busy?: string | null };

type Ajv = InstanceType<typeof Ajv2020.default>;
let ajv: Ajv | undefined;
const validators = new Map<string, ValidateFunction>();

function getAjv(): Ajv {
  if (!ajv) {
    ajv = new Ajv2020.default({ allErrors: false, strict: true, allowUnionTypes: true }); // op schemas use type: [a, b]
    // an op's args may $ref a config section (the `extract` op takes the `extract` section as it is)
    ajv.addKeyword({ keyword: "x-path", schemaType: "string" });
    ajv.addKeyword({ keyword: "x-scheduler-only", schemaType: "boolean" });
    ajv.addKeyword({ keyword: "x-store-identity", schemaType: "boolean" });
    ajv.addKeyword({ keyword: "x-idempotent", schemaType: "boolean" });
    for (const dir of [SCHEMA_DIR, CONFIG_SCHEMA_DIR]) {
      for (const file of readdirSync(dir).filter((f) => f.endsWith(".schema.json")).sort()) {
        ajv.addSchema(JSON.parse(readFileSync(path.join(dir, file), "utf8")));
      }
    }
  }
  return ajv;
}

function validatorFor(file: string): ValidateFunction {
  let v = validators.get(file);
  if (!v) {
    const doc = JSON.parse(readFileSync(file, "utf8")) as { $id?: string };
    const a = getAjv();
    v = (doc.$id && a.getSchema(doc.$id)) || a.compile(doc);
    validators.set(file, v);
  }
  return v;
}

function describe(errors: ErrorObject[] | null | undefined, root: string): string {
  const e = errors?.[0];
  if (!e) return `${root}: invalid`;
  const where = root + e.instancePath.replace(/\//g, ".");
  const extra = e.keyword === "additionalProperties" ? ` ('${(e.params as { additionalProperty: string }).additionalProperty}')` : "";
  return `${where}: ${e.message ?? "invalid"}${extra}`;
}

/** null if `header` is a valid schemas/protocol/<name>.schema.json instance, else one line naming the path. */
export function headerProblem(name: "request" | "reply" | "frame", header: unknown): string | null {
  const v = validatorFor(path.join(SCHEMA_DIR, `${name}.schema.json`));
  return v(header) ? null : describe(v.errors, "header");
}

/**
 * null if `args` satisfy schemas/protocol/ops/<op>.args.schema.json, else one line naming the path.
 * An op without a schema file here is left to the worker to judge (it may name its schema differently).
 */
export function argsProblem(op: string, args: unknown): string | null {
  const file = path.join(SCHEMA_DIR, "ops", `${op}.args.schema.json`);
  if (!/^[a-z][a-z0-9_]*$/.test(op) || !existsSync(file)) return null;
  const v = validatorFor(file);
  return v(args) ? null : describe(v.errors, "args");
}
