// Files between stages have schemas (schemas/stages/, schemas/tokenstore.manifest.schema.json) and
// cross-language fixtures (schemas/fixtures/stages/{ts,py}/, written by scripts/stage-fixtures.ts and
// scripts/stage_fixtures.py), as the wire protocol has. This suite checks the fixtures of both languages
// and what the TypeScript writers produce now against the schemas, and reads Python's with TS readers;
// py/tests/store/test_stage_files.py does the same from the other side.
import { expect } from "chai";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import { DataType, Vector, type Table } from "apache-arrow";
import { SCHEMA_DIR } from "../../ts/config/schema.js";
import { readArrowFile, readSplit, splitDataset, writeArrowFile } from "../../ts/data/index.js";
import { computeMetrics, popularityRanks } from "../../ts/metrics/index.js";
import { extractItemsTable } from "../../ts/schedule/side-channels.js";
import { MANIFEST_FILE, readManifest, readShardSummary, shardsWithParts, shardSummaryFile, TOKENSTORE_FORMAT } from "../../ts/schedule/tokenstore-files.js";
import { writeHandmade } from "../data/handmade.js";

const STAGES = join(SCHEMA_DIR, "stages");
const FIXTURES = join(SCHEMA_DIR, "fixtures", "stages");

interface RowSchema {
  properties: Record<string, { "x-arrow": string }>;
  "x-arrow-additional"?: string;
}
const schemaOf = (name: string) => JSON.parse(readFileSync(join(STAGES, `${name}.schema.json`), "utf8")) as RowSchema & Record<string, unknown>;

const ajv = new Ajv2020.default({ strict: true, allowUnionTypes: true });
for (const k of ["x-arrow", "x-arrow-additional", "x-data-file", "x-part-file"]) ajv.addKeyword({ keyword: k, schemaType: "string" });
ajv.addKeyword({ keyword: "x-file", schemaType: ["string", "array"] });

/** An Arrow type in the schemas' notation (`utf8`, `int32`, `list<utf8>`, ...). */
function arrowName(t: DataType): string {
  if (DataType.isUtf8(t)) return "utf8";
  if (DataType.isInt(t)) return `${t.isSigned ? "int" : "uint"}${t.bitWidth}`;
  if (DataType.isFloat(t)) return ["float16", "float32", "float64"][t.precision]!;
  if (DataType.isBool(t)) return "bool";
  if (DataType.isList(t)) return `list<${arrowName(t.children[0]!.type)}>`;
  return String(t);
}

const jsonValue = (v: unknown): unknown => (v instanceof Vector ? [...v].map(jsonValue) : typeof v === "bigint" ? Number(v) : v);

/** Problems of an Arrow table against a row schema of schemas/stages/: column names and types in order, then each row. */
function problems(table: Table, name: string): string[] {
  const schema = schemaOf(name);
  const declared = Object.entries(schema.properties).map(([k, p]) => `${k}: ${p["x-arrow"]}`);
  const actual = table.schema.fields.map((f) => `${f.name}: ${arrowName(f.type)}`);
  const extra = actual.slice(declared.length);
  const out: string[] = [];
  if (JSON.stringify(actual.slice(0, declared.length)) !== JSON.stringify(declared)) out.push(`columns ${actual.join(", ")}; schema ${declared.join(", ")}`);
  for (const e of extra) if (!schema["x-arrow-additional"] || !e.endsWith(`: ${schema["x-arrow-additional"]}`)) out.push(`column ${e} not in the schema`);
  const validate = ajv.getSchema(String(schema.$id)) ?? ajv.compile(schema);
  table.toArray().forEach((row: Record<string, unknown>, i) => {
    const json = Object.fromEntries(table.schema.fields.map((f) => [f.name, jsonValue(row[f.name])]));
    if (!validate(json)) out.push(`row ${i}: ${ajv.errorsText(validate.errors)}`);
  });
  return out;
}

const ARROW_FIXTURES: [string, string][] = [
  ["ts/items.arrow", "items"],
  ["ts/train.arrow", "train"],
  ["ts/valid.arrow", "eval-split"],
  ["ts/test.arrow", "eval-split"],
  ["ts/ranks.arrow", "ranks"],
  ["ts/extract-items.arrow", "extract-items"],
  ["py/ranks.arrow", "ranks"],
];

describe("stage files against schemas/stages (both languages' fixtures, TS writers now)", () => {
  for (const [file, schema] of ARROW_FIXTURES) {
    it(`fixture ${file} is a ${schema} file`, () => {
      expect(problems(readArrowFile(join(FIXTURES, file)), schema)).to.deep.equal([]);
    });
  }

  it("what the split, pop-rank and extract-items writers write now matches the schemas", () => {
    const root = mkdtempSync(join(tmpdir(), "lo-stage-files-"));
    try {
      const split = join(root, "split");
      splitDataset(writeHandmade({ videos: false }), split, { needVideos: false });
      for (const [f, schema] of [["items", "items"], ["train", "train"], ["valid", "eval-split"], ["test", "eval-split"]] as const) {
        expect(problems(readArrowFile(join(split, `${f}.arrow`)), schema), f).to.deep.equal([]);
      }
      const { path } = popularityRanks(split, { out: join(root, "ranks.arrow") });
      expect(problems(readArrowFile(path), "ranks")).to.deep.equal([]);
      const items = readSplit(split).items.map((it) => ({ item: it.item, video: it.video, title: it.title, transcript: "words" }));
      writeArrowFile(join(root, "extract-items.arrow"), extractItemsTable(items, ["title", "transcript"]));
      expect(problems(readArrowFile(join(root, "extract-items.arrow")), "extract-items")).to.deep.equal([]);
      // a wrong column type is caught
      writeArrowFile(join(root, "bad.arrow"), extractItemsTable(items, ["title"]).select(["item", "title", "video"]));
      expect(problems(readArrowFile(join(root, "bad.arrow")), "extract-items")).to.have.length(1);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("TS reads Python's ranks.arrow over its own items.arrow", () => {
    const m = computeMetrics(join(FIXTURES, "py", "ranks.arrow"), join(FIXTURES, "ts", "items.arrow"), { ks: [1, 10] });
    const test = m.rows.find((r) => r.split === "test" && r.slice === "overall");
    expect(test?.users).to.equal(2);
    expect(test?.hr[1]).to.equal(0.5); // scripts/stage_fixtures.py ranks the two test targets 2nd and 1st
  });

  it("TokenStore: TS reads Python's manifest and shard summary through their schemas", () => {
    const store = join(FIXTURES, "py", "tokenstore");
    const manifest = readManifest(store);
    expect(manifest?.format).to.equal(TOKENSTORE_FORMAT);
    expect(manifest?.shards.map((s) => s.file)).to.deep.equal(["shard-0.arrow"]);
    const summary = readShardSummary(store, 0);
    expect([...(summary?.items ?? []), ...(summary?.failed.map((f) => f.item) ?? [])]).to.have.members(["a", "b", "c"]);
    expect(readShardSummary(store, 1)).to.equal(null); // no such shard
  });

  it("TokenStore file names come from the schema annotations; a summary that breaks the schema is an error naming it", () => {
    const dir = mkdtempSync(join(tmpdir(), "lo-store-files-"));
    try {
      for (const f of ["shard-3.part-0.arrow", "shard-3.part-12.arrow", "shard-4.arrow", "shard-5.json", "other.part-1.arrow"]) writeFileSync(join(dir, f), "");
      expect([...shardsWithParts(dir)]).to.deep.equal([3]);
      writeFileSync(join(dir, shardSummaryFile(5)), JSON.stringify({ shard: 5, items: ["a"] }));
      expect(() => readShardSummary(dir, 5)).to.throw(/shard-5\.json: not a TokenStore shard summary/);
      expect(MANIFEST_FILE).to.equal(JSON.parse(readFileSync(join(SCHEMA_DIR, "tokenstore.manifest.schema.json"), "utf8"))["x-file"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
