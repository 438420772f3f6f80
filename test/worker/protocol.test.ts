import { expect } from "chai";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { argsProblem, headerProblem, SCHEMA_DIR } from "../../ts/worker/protocol.js";
import { FIXTURE_DIR } from "../../ts/worker/fixtures.js";

interface HeaderCase {
  name: string;
  schema: "request" | "reply";
  header: unknown;
  mentions?: string;
}
const headers = JSON.parse(readFileSync(path.join(FIXTURE_DIR, "headers.json"), "utf8")) as { valid: HeaderCase[]; invalid: HeaderCase[] };

describe("protocol header schemas (shared fixtures in schemas/fixtures/headers.json)", () => {
  for (const c of headers.valid) {
    it(`accepts ${c.name}`, () => {
      expect(headerProblem(c.schema, c.header)).to.equal(null);
    });
  }
  for (const c of headers.invalid) {
    it(`rejects ${c.name} naming the field`, () => {
      const problem = headerProblem(c.schema, c.header);
      expect(problem).to.be.a("string").that.matches(/^header/).and.matches(new RegExp(c.mentions!));
    });
  }
  it("validates op args against schemas/protocol/ops/<op>.args.schema.json, naming the path", () => {
    expect(argsProblem("echo", { value: 1, delay_s: 0.5 })).to.equal(null);
    expect(argsProblem("echo", { delay_s: "soon" })).to.match(/^args\.delay_s: /);
    expect(argsProblem("echo", { bogus: 1 })).to.match(/bogus/);
  });
  it("every op args schema is strict 2020-12", () => {
    for (const f of readdirSync(path.join(SCHEMA_DIR, "ops"))) {
      const doc = JSON.parse(readFileSync(path.join(SCHEMA_DIR, "ops", f), "utf8")) as Record<string, unknown>;
      expect(doc.$schema, f).to.equal("https://json-schema.org/draft/2020-12/schema");
      expect(doc.additionalProperties, f).to.equal(false);
    }
  });
});
