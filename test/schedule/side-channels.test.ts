// Side channels end to end on the TypeScript side: a MicroLens folder's side file feeds the items the
// extractor is sent, the extraction key follows the configured channels' values (and nothing else in
// the file), and a channel the data lacks stops the run before any stage starts.
// py/tests/extract/test_prompts.py follows the same items into the text the backbone is given.
import { expect } from "chai";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type ExperimentConfig } from "../../ts/config/index.js";
import { DataError } from "../../ts/data/errors.js";
import { planKeys, runGraph } from "../../ts/schedule/graph.js";
import { pipelineStages } from "../../ts/schedule/pipeline.js";
import { checkBeforeRun, extractItems } from "../../ts/schedule/side-channels.js";
import { Reporter } from "../../ts/schedule/progress.js";
import { RunResources } from "../../ts/schedule/resources.js";
import { REPO_ROOT } from "../helpers.js";


describe("side channels: side file → extracted items and the extraction key", () => {
  let root: string;
  let data: string;
  const side = (rows: string) => writeFileSync(join(data, "MicroLens-x_side.csv"), `item,transcript,tags\n${rows}`);
  const config = async (channels: string[], extra: string[] = []): Promise<ExperimentConfig> =>
    (
      await loadConfig(join(REPO_ROOT, "configs/linkedout.yaml"), {
        cwd: REPO_ROOT,
        sets: [
          "dataset.source=microlens",
          `dataset.dir=${data}`,
          "dataset.on_missing_video=keep",
          `cache_dir=${join(root, "cache")}`,
          `extract.side_channels=${JSON.stringify(channels)}`,
          ...extra,
        ],
      })
    ).config;
  const extractKey = async (c: ExperimentConfig) => (await planKeys(pipelineStages(), c)).get("extract");

  before(() => {
    root = mkdtempSync(join(tmpdir(), "lo-side-"));
    data = join(root, "data");
    const rows = ["user,item,timestamp"];
    for (let u = 0; u < 4; u++) for (let k = 0; k < 5; k++) rows.push(`u${u},${"abcdef"[(u + k) % 6]},${10 * u + k}`);
    mkdirSync(data);
    writeFileSync(join(data, "MicroLens-x_pairs.csv"), `${rows.join("\n")}\n`);
    writeFileSync(join(data, "MicroLens-x_titles.csv"), "item,title\na,A cat\nb,A dog\n");
    side('a,"hello, a cat ""quoted""",x\nb,,y\n');
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it("the extractor is sent each item's configured channels; a missing value is absent", async () => {
    const c = await config(["title", "transcript"]);
    const reporter = new Reporter({ mode: "json", write: () => undefined });
    const stages = pipelineStages().filter((s) => ["data", "split"].includes(s.name));
    const outputs = await runGraph(stages, c, { cacheDir: c.cache_dir, reporter, resources: new RunResources(c.workers, reporter) });
    const items = Object.fromEntries(extractItems(c, outputs.get("split")!.dir).map((it) => [it.item, it]));
    expect(items.a).to.deep.include({ title: "A cat", transcript: 'hello, a cat "quoted"' });
    expect(items.a).to.not.have.property("tags"); // not configured
    expect(items.b).to.deep.include({ title: "A dog" });
    expect(items.b).to.not.have.property("transcript"); // empty cell: absent
    expect(items.c).to.deep.include({ title: "" }).and.not.have.property("transcript"); // no row: absent
  });

  it("the extraction key changes with a configured channel's value, not with other columns", async () => {
    const c = await config(["title", "transcript"]);
    const before = await extractKey(c);
    side('a,"hello, a cat ""quoted""",CHANGED\nb,,y\n'); // tags: not in the prompt
    expect(await extractKey(c)).to.equal(before);
    side('a,"goodbye, a cat",CHANGED\nb,,y\n'); // the transcript: in the prompt
    const after = await extractKey(c);
    expect(after).to.not.equal(before);
    expect(await extractKey(await config(["title"]))).to.not.equal(after); // fewer channels, other prompt text
  });

  it("a channel the data lacks is an error naming extract.side_channels, before any stage runs", async () => {
    const err = (fn: () => void): Error => {
      try {
        fn();
      } catch (e) {
        return e as Error;
      }
      throw new Error("expected an error");
    };
    const bad = await config(["title", "asr"]);
    const thrown = err(() => checkBeforeRun(bad));
    expect(thrown).to.be.instanceOf(DataError);
    expect(thrown.message).to.equal(`extract.side_channels: 'asr' is not a column of ${join(data, "MicroLens-x_side.csv")} (columns: transcript, tags)`);
    const synth = (await loadConfig(join(REPO_ROOT, "configs/linkedout.yaml"), { cwd: REPO_ROOT, sets: ['extract.side_channels=["title","asr"]'] })).config;
    expect(err(() => checkBeforeRun(synth)).message).to.equal("extract.side_channels: 'asr' is not a column of the synthetic dataset's side file (columns: transcript)");
    checkBeforeRun((await loadConfig(join(REPO_ROOT, "configs/linkedout.yaml"), { cwd: REPO_ROOT, sets: ['extract.side_channels=["title","transcript"]'] })).config);
  });
});
