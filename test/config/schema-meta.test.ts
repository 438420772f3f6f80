// The config schemas are valid JSON Schema 2020-12. `lo-exp` skips this meta-schema check on each call
// (start-up time), so the suite does it here.
import { expect } from "chai";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadSchemaBundle, SCHEMA_DIR } from "../../ts/config/schema.js";

describe("config schemas against the JSON Schema meta-schema", () => {
  it("every shipped schema is valid", () => {
    expect(() => loadSchemaBundle(SCHEMA_DIR, { checkMetaSchema: true })).not.to.throw();
  });

  it("a schema with a malformed bound is rejected by the check", () => {
    const dir = mkdtempSync(join(tmpdir(), "lo-schema-meta-"));
    try {
      cpSync(SCHEMA_DIR, dir, { recursive: true });
      const file = join(dir, "config", "workers.schema.json");
      const schema = JSON.parse(readFileSync(file, "utf8")) as { properties: { count: Record<string, unknown> } };
      schema.properties.count.maximum = "many";
      writeFileSync(file, JSON.stringify(schema));
      expect(() => loadSchemaBundle(dir, { checkMetaSchema: true })).to.throw(/schema is invalid/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
