import { expect } from "chai";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { relative } from "node:path";
import { GENERATED_FILES, generateConfigTypes } from "../../scripts/gen-config.js";
import { generateOpTypes } from "../../scripts/gen-ops.js";
import { generatePythonOpArgs } from "../../scripts/gen-python.js";
import { REPO_ROOT } from "../../ts/worker/python.js";
import { SCHEMA_DIR } from "../../ts/config/schema.js";

// The boundary between TypeScript and Python is generated from schemas/ (the one definition): config
// types and op args on both sides. Every committed generated file must be what the schemas generate
// now, so a schema change without `npm run gen:config` fails here — the one staleness check.
describe("files generated from schemas/ (scripts/gen-config.ts)", function () {
  this.timeout(60_000);

  it("every generated file is up to date with schemas/ (else run `npm run gen:config`)", async () => {
    const stale: string[] = [];
    for (const { file, generate } of GENERATED_FILES) if (readFileSync(file, "utf8") !== (await generate())) stale.push(relative(REPO_ROOT, file));
    expect(stale, `stale: run \`npm run gen:config\``).to.deep.equal([]);
  });

  it("follows an op schema change: x-idempotent, a new arg typed on both sides", async () => {
    const root = mkdtempSync(join(tmpdir(), "lo-gen-ops-"));
    try {
      const dir = join(root, "schemas");
      cpSync(SCHEMA_DIR, dir, { recursive: true });
      const file = join(dir, "protocol", "ops", "echo.args.schema.json");
      const schema = JSON.parse(readFileSync(file, "utf8"));
      schema["x-idempotent"] = true;
      schema.properties.probe_arg = { type: "integer", default: 3, description: "test-only arg" };
      writeFileSync(file, JSON.stringify(schema));
      const ts = await generateOpTypes(dir);
      expect(ts).to.match(/IDEMPOTENT_OPS: ReadonlySet<OpName> = new Set<OpName>\(\[[^\]]*"echo"/);
      expect(ts.slice(ts.indexOf("export interface EchoArgs {"))).to.match(/^ {2}probe_arg\?: number;$/m);
      const py = generatePythonOpArgs(dir);
      expect(py.slice(py.indexOf("class EchoArgs:"))).to.match(/^ {4}probe_arg: int = 3$/m);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
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
