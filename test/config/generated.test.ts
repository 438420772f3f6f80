import { expect } from "chai";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GENERATED_FILE, generateConfigTypes } from "../../scripts/gen-config.js";
import { SCHEMA_DIR } from "../../ts/config/schema.js";

// The config types are generated from schemas/ (the one definition): the committed file must be what
// the schemas generate now, so a schema change without `npm run gen:config` fails here.
describe("generated config types (scripts/gen-config.ts)", function () {
  this.timeout(60_000);

  it("ts/config/generated/experiment.ts is up to date with schemas/ (else run `npm run gen:config`)", async () => {
    const fresh = await generateConfigTypes();
    expect(readFileSync(GENERATED_FILE, "utf8") === fresh, "ts/config/generated/experiment.ts differs: run `npm run gen:config`").to.equal(true);
  });

  it("follows a schema change: a new key with a default becomes a required typed field", async () => {
    const root = mkdtempSync(join(tmpdir(), "lo-gen-config-"));
    try {
      const dir = join(root, "schemas");
      cpSync(SCHEMA_DIR, dir, { recursive: true });
      const file = join(dir, "config", "extract.schema.json");
      const schema = JSON.parse(readFileSync(file, "utf8"));
      schema.properties.probe_setting = { type: "integer", default: 3, description: "test-only key" };
      writeFileSync(file, JSON.stringify(schema));
      const text = await generateConfigTypes(dir);
      const extract = text.slice(text.indexOf("export interface ExtractConfig {"));
      expect(extract.slice(0, extract.indexOf("\n}"))).to.match(/\n {2}probe_setting: number;/);
      expect(text).to.not.include("Describe this video"); // types only: the defaults stay in schemas/
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
