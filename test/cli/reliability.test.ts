// Issue 12 as a new user meets it, through the real CLI: bad model folders, a results_dir that cannot be
// created, a header-only pairs file, undecodable videos with --strict, --version, `serve --help`.
// Cases that used to hang run under a generous timeout that kills the child and fails the test.
import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { FORCE_CHOICES } from "../../ts/cli/commands/run.js";
import { pipelineStages } from "../../ts/schedule/pipeline.js";
import { LO_EXP, loExp, REPO_ROOT } from "../helpers.js";

const LINKEDOUT = join(REPO_ROOT, "configs/linkedout.yaml");

/** A minimal valid safetensors file: 8-byte little-endian header length, a JSON header, no tensors. */
function emptySafetensors(file: string): void {
  const header = Buffer.from(JSON.stringify({ __metadata__: { format: "pt" } }).padEnd(32, " "));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  writeFileSync(file, Buffer.concat([len, header]));
}

/** A model folder with tokenizer and weight files and the given config.json (undefined: none). */
function modelFolder(dir: string, config: object | undefined): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "tokenizer.json"), "{}\n");
  emptySafetensors(join(dir, "model.safetensors"));
  if (config) writeFileSync(join(dir, "config.json"), JSON.stringify(config));
  return dir;
}

describe("lo-exp: checks before work starts, failed items, papercuts (issue 12)", function () {
  this.timeout(300_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "lo-reliability-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("1: a model folder without config.json is one clear line naming the file, before any stage (no hang)", async () => {
    const model = modelFolder(join(dir, "no-config"), undefined);
    const cache = join(dir, "cache-1");
    const r = await loExp(["run", LINKEDOUT, "--set", `model.path=${model}`, "--set", `cache_dir=${cache}`, "--set", `results_dir=${join(dir, "results-1")}`], dir);
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stderr.trim().split("\n")).to.deep.equal([
      `lo-exp: model.path (--set model.path=${model}): ${join(model, "config.json")}: missing (a LLaVA-OneVision checkpoint folder has config.json, tokenizer files and *.safetensors weights)`,
    ]);
    expect(existsSync(cache), "no stage ran").to.equal(false);
  });

  it("2: a config.json naming a text-only architecture (Qwen2ForCausalLM) is one clear line (no hang)", async () => {
    const model = modelFolder(join(dir, "qwen2"), { architectures: ["Qwen2ForCausalLM"], model_type: "qwen2", hidden_size: 64 });
    const r = await loExp(["run", LINKEDOUT, "--set", `model.path=${model}`, "--set", `cache_dir=${join(dir, "cache-2")}`], dir);
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stderr).to.contain(`${join(model, "config.json")}: architectures ["Qwen2ForCausalLM"] is not a LLaVA-OneVision video model`);
    expect(r.stderr).not.to.match(/\n\s+at /); // no stack trace
  });

  it("3: a results_dir blocked by a file fails before any stage runs, naming the key and its --set", async () => {
    const blocker = join(dir, "blocker");
    writeFileSync(blocker, "a file, not a folder\n");
    const cache = join(dir, "cache-3");
    const r = await loExp(["run", LINKEDOUT, "--set", `results_dir=${blocker}`, "--set", `cache_dir=${cache}`], dir);
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stderr).to.contain(`lo-exp: results_dir (--set results_dir=${blocker}): cannot create ${join(blocker, "linkedout")}: ${blocker} is a file`);
    expect(r.stderr).not.to.contain("ENOTDIR");
    expect(r.stdout + r.stderr).not.to.contain("[data]");
    expect(existsSync(cache), "no stage ran").to.equal(false);
  });

  it("reports every problem found at once, one line each", async () => {
    const blocker = join(dir, "blocker-all");
    writeFileSync(blocker, "x\n");
    const model = modelFolder(join(dir, "no-config-all"), undefined);
    const r = await loExp(["run", LINKEDOUT, "--set", `model.path=${model}`, "--set", `results_dir=${blocker}`, "--set", `cache_dir=${join(blocker, "cache")}`], dir);
    expect(r.code, r.stderr).to.equal(1);
    const lines = r.stderr.trim().split("\n");
    expect(lines.map((l) => l.split(" ")[1])).to.deep.equal(["results_dir", "cache_dir", "model.path"]);
  });

  it("4: a pairs file with only its header: data stats, data split and run each say so in one line", async () => {
    const data = join(dir, "header-only");
    mkdirSync(join(data, "MicroLens-50k_videos"), { recursive: true });
    const pairs = join(data, "MicroLens-50k_pairs.csv");
    writeFileSync(pairs, "user,item,timestamp\n");
    const expected = `${pairs}: no interactions (the file has only its header)`;
    const stats = await loExp(["data", "stats", data], dir);
    expect([stats.code, stats.stderr.trim()]).to.deep.equal([1, `lo-exp: ${expected}`]);
    const split = await loExp(["data", "split", data, "--out", join(dir, "split-out")], dir);
    expect([split.code, split.stderr.trim()]).to.deep.equal([1, `lo-exp: ${expected}`]);
    expect(existsSync(join(dir, "split-out"))).to.equal(false);
    const cache = join(dir, "cache-4");
    const run = await loExp(["run", LINKEDOUT, "--set", "dataset.source=microlens", "--set", `dataset.dir=${data}`, "--set", `cache_dir=${cache}`], dir);
    expect(run.code, run.stderr).to.equal(1);
    expect(run.stderr.trim()).to.equal(`lo-exp: dataset.dir (--set dataset.dir=${data}): ${expected}`);
    expect(existsSync(cache)).to.equal(false);
  });

  it("4b: users all below the protocol's 5 interactions: data split refuses, data stats warns", async () => {
    const data = join(dir, "too-short");
    mkdirSync(join(data, "MicroLens-50k_videos"), { recursive: true });
    const pairs = join(data, "MicroLens-50k_pairs.csv");
    const rows = ["u1,a,1", "u1,b,2", "u1,c,3", "u2,a,1", "u2,b,2"];
    writeFileSync(pairs, `user,item,timestamp\n${rows.join("\n")}\n`);
    for (const v of ["a", "b", "c"]) writeFileSync(join(data, "MicroLens-50k_videos", `${v}.mp4`), "");
    const split = await loExp(["data", "split", data, "--out", join(dir, "short-out")], dir);
    expect([split.code, split.stderr.trim()]).to.deep.equal([
      1,
      `lo-exp: ${pairs}: no user left after the protocol: none of its 2 user(s) has ≥ 5 interactions`,
    ]);
    const stats = await loExp(["data", "stats", data], dir);
    expect(stats.code).to.equal(0);
    expect(stats.stdout).to.contain(`warning: ${pairs}: no user has ≥ 5 interactions, so the protocol keeps none`);
  });

  it("7: two undecodable videos are named in the summary and failed_items.tsv; --strict exits 3", async () => {
    const data = join(dir, "synth");
    const synth = await loExp(["data", "synth", "--preset", "tiny", "--out", data], dir, 180_000);
    expect(synth.code, synth.stderr).to.equal(0);
    const videos = join(data, "MicroLens-synth_videos");
    writeFileSync(join(videos, "3.mp4"), Buffer.alloc(0)); // empty
    writeFileSync(join(videos, "7.mp4"), Buffer.alloc(3000, 7)); // not a video container
    const sets = [
      "dataset.source=microlens",
      `dataset.dir=${data}`,
      `cache_dir=${join(dir, "cache-7")}`,
      `results_dir=${join(dir, "results-7")}`,
      "train.epochs=1",
      "extract.frames=2",
      "name=bad-videos",
    ].flatMap((s) => ["--set", s]);
    const r = await loExp(["run", LINKEDOUT, ...sets], dir, 240_000);
    expect(r.code, r.stderr.slice(-3000)).to.equal(0);
    const list = join(dir, "results-7", "bad-videos", "failed_items.tsv");
    expect(r.stdout, r.stdout).to.contain(`2 of 30 videos failed extraction and have no content tokens; list: ${relative(dir, list)}`);
    const rows = readFileSync(list, "utf8").trim().split("\n");
    expect(rows[0]).to.equal("item\treason");
    expect(rows.slice(1).map((row) => row.split("\t")[0]).sort()).to.deep.equal(["3", "7"]);

    const strict = await loExp(["run", LINKEDOUT, ...sets, "--strict"], dir, 120_000);
    expect(strict.code, strict.stderr.slice(-3000)).to.equal(3);
    expect(strict.stderr).to.contain(`lo-exp: bad-videos: 2 of 30 videos failed extraction (strict; listed in ${list})`);
  });

  it("--version prints package.json's version", async () => {
    const r = await loExp(["--version"], dir);
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
    expect([r.code, r.stdout.trim()]).to.deep.equal([0, pkg.version]);
  });

  it("`npx lo-exp` is the linked bin package, run without installing anything", async () => {
    // bin/package.json → node_modules/.bin/lo-exp (npm ci); --no-install fails if npx would have to fetch it.
    // The link is what keeps npx off its slow path (re-installing the project into its cache each call).
    expect(realpathSync(join(REPO_ROOT, "node_modules/.bin/lo-exp"))).to.equal(realpathSync(LO_EXP));
    const r = spawnSync("npx", ["--no-install", "lo-exp", "--version"], { cwd: REPO_ROOT, encoding: "utf8", timeout: 120_000 });
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
    expect([r.status, r.stdout.trim()], r.stderr).to.deep.equal([0, pkg.version]);
  });

  it("serve --help says what a run folder is: results/<name>/ with stages.json, or a folder with embeddings/store.json", async () => {
    const r = await loExp(["serve", "--help"], dir);
    expect(r.code).to.equal(0);
    const text = r.stdout.replace(/\s+/g, " ");
    expect(text).to.contain("results/<name>/");
    expect(text).to.contain("stages.json");
    expect(text).to.contain("embeddings/store.json");
    expect(text).not.to.contain("best.pt");
  });

  it("--force names match the pipeline's stages; errors have no stack trace unless --debug", async () => {
    expect([...FORCE_CHOICES]).to.deep.equal([...pipelineStages().map((s) => s.name), "all"]);
    const r = await loExp(["run", LINKEDOUT, "--force", "nope"], dir);
    expect([r.code, r.stderr.trim()]).to.deep.equal([1, `lo-exp: --force nope: no such stage (stages: ${FORCE_CHOICES.join(", ")})`]);
    const debug = await loExp(["run", LINKEDOUT, "--force", "nope", "--debug"], dir);
    expect(debug.code).to.equal(1);
    expect(debug.stderr).to.match(/^lo-exp: --force nope: no such stage/);
    expect(debug.stderr).to.match(/\n\s+at /);
  });
});
