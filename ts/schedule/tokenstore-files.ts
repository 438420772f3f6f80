// TokenStore facts the scheduler reads, taken from the store's schemas (the Python writer's contract):
// schemas/tokenstore.manifest.schema.json. TS never restates the Python format.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SCHEMA_DIR } from "../config/schema.js";

interface FileSchema {
  properties: Record<string, { const?: unknown }>;
}

const manifestSchema = JSON.parse(readFileSync(join(SCHEMA_DIR, "tokenstore.manifest.schema.json"), "utf8")) as FileSchema;

/** The format name and version a store's manifest carries (its `format` const). */
export const TOKENSTORE_FORMAT = String(manifestSchema.properties.format?.const);
