// The TokenStore's identity (the extraction key) is derived from the schema's `x-store-identity`
// marks; schemas/fixtures/store-identity.json holds cases Python checks too
// (py/tests/extract/test_store_identity.py), so both languages name a store the same.
import { expect } from "chai";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { configDefaults, type ExtractConfig, type ModelConfig } from "../../ts/config/index.js";
import { loadSchemaBundle, SCHEMA_DIR, STORE_IDENTITY_SECTIONS, storeIdentityKeys } from "../../ts/config/schema.js";
import { extractionKey, extractionKeyParts } from "../../ts/schedule/extract.js";

interface IdentityCase {
  name: string;
  dataset: string;
  model: Partial<ModelConfig>;
  extract: Partial<ExtractConfig>;
  parts?: Record<string, unknown>;
  key: string;
}
const { cases } = JSON.parse(readFileSync(join(SCHEMA_DIR, "fixtures", "store-identity.json"), "utf8")) as { cases: IdentityCase[] };

describe("store identity from the schema marks (x-store-identity)", () => {
  const defaults = configDefaults();

  for (const c of cases) {
    it(`fixture: ${c.name}`, () => {
      const model = { ...defaults.model, ...c.model };
      const extract = { ...defaults.extract, ...c.extract };
      if (c.parts) expect(extractionKeyParts(c.dataset, model, extract)).to.deep.equal(c.parts);
      expect(extractionKey(c.dataset, model, extract)).to.equal(c.key);
    });
  }

  it("every model and extract key is marked; the paired keys are in the identity", () => {
    const marked = Object.fromEntries(STORE_IDENTITY_SECTIONS.map((s) => [s, storeIdentityKeys(s)])); // throws on an unmarked key
    expect(marked.model).to.include.members(["path", "tiny"]);
    expect(marked.extract).to.include.members(["taps", "tap_every"]);
    expect(marked.extract).to.not.include.members(["batch_size", "shard_size", "engine"]);
  });

  it("a new extract key without a mark fails; marked true it joins the identity", () => {
    const root = mkdtempSync(join(tmpdir(), "lo-identity-"));
    try {
      const dir = join(root, "schemas");
      cpSync(SCHEMA_DIR, dir, { recursive: true });
      const file = join(dir, "config", "extract.schema.json");
      const schema = JSON.parse(readFileSync(file, "utf8"));
      schema.properties.probe_setting = { type: "integer", default: 3, description: "test-only key" };
      writeFileSync(file, JSON.stringify(schema));
      expect(() => storeIdentityKeys("extract", loadSchemaBundle(dir))).to.throw(/extract\.probe_setting must say "x-store-identity": true or false/);
      const marked = join(root, "marked"); // a second folder: schema bundles are cached per folder
      cpSync(dir, marked, { recursive: true });
      schema.properties.probe_setting["x-store-identity"] = true;
      writeFileSync(join(marked, "config", "extract.schema.json"), JSON.stringify(schema));
      expect(storeIdentityKeys("extract", loadSchemaBundle(marked))).to.include("probe_setting");
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
