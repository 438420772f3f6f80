// The checks `lo-exp run` makes before work starts, on real folders and files (the CLI cases are in
// test/cli/reliability.test.ts), and the source note added to errors raised while a stage runs.
import { expect } from "chai";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../ts/config/index.js";
import { configSourcesNote, modelFolderProblems, unwritableDirReason } from "../../ts/schedule/preflight.js";
import { REPO_ROOT } from "../helpers.js";


function safetensors(file: string, headerBytes: number, declared = headerBytes): void {
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(declared));
  writeFileSync(file, Buffer.concat([len, Buffer.from("{}".padEnd(headerBytes, " "))]));
}

describe("schedule/preflight: checks before work starts", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "lo-preflight-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const llavaConfig = { architectures: ["LlavaOnevisionForConditionalGeneration"], model_type: "llava_onevision" };

  it("accepts a folder with config.json, tokenizer and a whole safetensors file", () => {
    writeFileSync(join(dir, "config.json"), JSON.stringify(llavaConfig));
    writeFileSync(join(dir, "tokenizer.json"), "{}");
    safetensors(join(dir, "model.safetensors"), 16);
    expect(modelFolderProblems(dir)).to.deep.equal([]);
  });

  it("names a truncated safetensors file, a shard missing from the index, and absent tokenizer files", () => {
    writeFileSync(join(dir, "config.json"), JSON.stringify(llavaConfig));
    safetensors(join(dir, "model-1.safetensors"), 16, 4096); // header claims more bytes than the file has
    writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify({ weight_map: { a: "model-1.safetensors", b: "model-2.safetensors" } }));
    expect(modelFolderProblems(dir)).to.deep.equal([
      `${dir}: no tokenizer files (expected tokenizer.json, tokenizer.model or vocab.json)`,
      `${join(dir, "model-1.safetensors")}: not a safetensors file or truncated (header of 4096 bytes, file of 24)`,
      `${join(dir, "model-2.safetensors")}: missing (listed in model.safetensors.index.json)`,
    ]);
  });

  it("names config.json that is not JSON, and one without architectures or model_type", () => {
    writeFileSync(join(dir, "tokenizer.json"), "{}");
    safetensors(join(dir, "model.safetensors"), 16);
    writeFileSync(join(dir, "config.json"), "{ not json");
    expect(modelFolderProblems(dir)[0]).to.match(new RegExp(`^${join(dir, "config.json")}: not valid JSON \\(`));
    writeFileSync(join(dir, "config.json"), "{}");
    expect(modelFolderProblems(dir)).to.deep.equal([
      `${join(dir, "config.json")}: model_type null and no architectures is not a LLaVA-OneVision video model (expected "LlavaOnevisionForConditionalGeneration")`,
    ]);
  });

  it("output folders: a file in the way, or the folder itself a file", () => {
    const file = join(dir, "f");
    writeFileSync(file, "x");
    mkdirSync(join(dir, "ok"));
    expect(unwritableDirReason(join(dir, "ok", "new", "deeper"))).to.equal(null);
    expect(unwritableDirReason(file)).to.equal(`${file} is a file, not a directory`);
    expect(unwritableDirReason(join(file, "sub"))).to.equal(`cannot create ${join(file, "sub")}: ${file} is a file`);
  });

  it("an error raised while a stage runs gets the source of each config key it names", async () => {
    const loaded = await loadConfig(join(REPO_ROOT, "configs/quickstart.yaml"), { sets: ["model.path=nohub/nomodel"], cwd: REPO_ROOT });
    expect(configSourcesNote("stage extract failed: shard 0: model.path 'nohub/nomodel': not found", loaded, REPO_ROOT)).to.equal(
      " [model.path: --set model.path=nohub/nomodel]",
    );
    expect(configSourcesNote("k: 500 is out of range 1..100 (serve.max_k)", loaded, REPO_ROOT)).to.equal(" [serve.max_k: default]");
    expect(configSourcesNote("train.epochs must be small", loaded, REPO_ROOT)).to.equal(" [train.epochs: configs/quickstart.yaml:8:11]");
    expect(configSourcesNote("the run name is taken", loaded, REPO_ROOT)).to.equal("");
  });
});
