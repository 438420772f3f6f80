import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { ServeError } from "../../ts/serve/errors.js";
import { checkRunDir, serveDefaults, serveSettingsForRun } from "../../ts/serve/config.js";

describe("serve config: defaults from the schema, run directory resolution", () => {
  let root: string;
  before(() => {
    root = mkdtempSync(path.join(tmpdir(), "lo-serve-config-"));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it("takes every default from schemas/config/serve.schema.json", () => {
    const d = serveDefaults();
    expect(d).to.include({ port: 8321, store_dir: "embeddings", max_k: 100, max_batch: 64, refresh_s: 0.5, max_body_bytes: 65536, threads: 1 });
    expect(d.bench.catalogues).to.deep.equal([20000, 200000]);
    expect(serveSettingsForRun(root)).to.deep.equal(d); // no resolved.yaml: the defaults
  });

  it("serves a folder holding embeddings/ directly", () => {
    const run = path.join(root, "train-run");
    mkdirSync(path.join(run, "embeddings"), { recursive: true });
    writeFileSync(path.join(run, "embeddings", "store.json"), "{}");
    expect(checkRunDir(run, serveDefaults())).to.deep.equal({ runDir: run, storeDir: path.join(run, "embeddings") });
  });

  it("follows results/<name>/stages.json to the embed stage's folder", () => {
    const embed = path.join(root, "cache", "embed", "abc");
    mkdirSync(path.join(embed, "embeddings"), { recursive: true });
    writeFileSync(path.join(embed, "embeddings", "store.json"), "{}");
    const results = path.join(root, "results", "quick");
    mkdirSync(results, { recursive: true });
    writeFileSync(path.join(results, "stages.json"), JSON.stringify({ embed: { key: "abc", dir: embed, cached: true } }));
    expect(checkRunDir(results, serveDefaults())).to.deep.equal({ runDir: embed, storeDir: path.join(embed, "embeddings") });
  });

  it("names what is missing", () => {
    expect(() => checkRunDir(path.join(root, "nope"), serveDefaults())).to.throw(ServeError, /nope: no such run directory/);
    const empty = path.join(root, "empty");
    mkdirSync(empty);
    expect(() => checkRunDir(empty, serveDefaults())).to.throw(ServeError, /empty\/embeddings\/store\.json: no EmbeddingStore in this run/);
    const noEmbed = path.join(root, "results", "id-only");
    mkdirSync(noEmbed, { recursive: true });
    writeFileSync(path.join(noEmbed, "stages.json"), JSON.stringify({ train: { dir: "/x" } }));
    expect(() => checkRunDir(noEmbed, serveDefaults())).to.throw(ServeError, /stages\.json: this run has no embed stage/);
  });
});
