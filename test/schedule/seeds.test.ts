// Training seeds (`seeds:` in experiment tables, `lo-exp run --seeds`): only the stages downstream of
// training depend on the seed, so data, split and extraction are shared through the stage cache; a
// rerun does no work and an interrupted multi-seed run resumes with the seeds it had finished.
import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tableFromIPC } from "apache-arrow";
import { loadConfig } from "../../ts/config/index.js";
import { planKeys } from "../../ts/schedule/graph.js";
import { pipelineStages } from "../../ts/schedule/pipeline.js";
import { Reporter, type RunEvent } from "../../ts/schedule/progress.js";
import { runPath } from "../../ts/schedule/run.js";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const LINKEDOUT = join(REPO, "configs/linkedout.yaml");

const started = (events: readonly RunEvent[]) => events.filter((e) => e.event === "stage_start").map((e) => ("stage" in e ? e.stage : ""));
const hits = (events: readonly RunEvent[], stage: string) => events.filter((e) => e.event === "cache_hit" && "stage" in e && e.stage === stage).length;

describe("training seeds share the seed-free stages (ts/schedule/run)", function () {
  this.timeout(900_000);

  it("seeds change the keys of training and what follows it, never data, split or extraction", async () => {
    const keys = await Promise.all(
      [0, 1, 2].map(async (seed) => planKeys(pipelineStages(), (await loadConfig(LINKEDOUT, { sets: [`train.seed=${seed}`], cwd: REPO })).config)),
    );
    for (const stage of ["data", "split", "extract"]) {
      expect(keys[0]!.get(stage), stage).to.be.a("string");
      expect(new Set(keys.map((k) => k.get(stage))).size, stage).to.equal(1);
    }
    for (const stage of ["train", "embed", "rank", "metrics", "report"]) expect(new Set(keys.map((k) => k.get(stage))).size, stage).to.equal(3);
  });

  it("--seeds that are not seeds: one line naming the argument, before any work", () => {
    const root = mkdtempSync(join(tmpdir(), "lo-seeds-arg-"));
    try {
      for (const [arg, why] of [
        ["0,x", "'x' is not a seed"],
        ["0,,1", "'' is not a seed"],
        ["1,1", "a seed is listed twice"],
      ] as const) {
        const cli = spawnSync(process.execPath, [join(REPO, "bin/lo-exp.js"), "run", LINKEDOUT, "--seeds", arg, "--set", `cache_dir=${join(root, "cache")}`], { encoding: "utf8", cwd: root });
        expect(cli.status, cli.stderr).to.equal(1);
        const lines = cli.stderr.trim().split("\n");
        expect(lines).to.have.length(1);
        expect(lines[0]).to.match(new RegExp(`^lo-exp: --seeds ${arg}: ${why.replace(/[()]/g, "\\$&")}`));
      }
      expect(existsSync(join(root, "cache"))).to.equal(false);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  describe("end to end (tiny backbone, one epoch)", () => {
    let root: string;
    const sets = () => [`cache_dir=${join(root, "cache")}`, `results_dir=${join(root, "results")}`, "train.epochs=1", "extract.frames=4"];
    before(() => (root = mkdtempSync(join(tmpdir(), "lo-seeds-"))));
    after(() => rmSync(root, { recursive: true, force: true }));

    it("--seeds 0,1 on one config: interrupted after seed 0, resumed with seed 1 only; extraction once; a rerun does no work", async () => {
      // interrupt as soon as seed 0's run is done
      const ac = new AbortController();
      const first = new Reporter({ mode: "json", write: () => {} });
      const origEmit = first.emit.bind(first);
      first.emit = (ev: RunEvent) => {
        origEmit(ev);
        if (ev.event === "run_done") ac.abort(new Error("interrupted"));
      };
      let failed = false;
      await runPath(LINKEDOUT, { sets: sets(), seeds: [0, 1], reporter: first, signal: ac.signal, print: () => {}, cwd: root }).catch(() => (failed = true));
      expect(failed).to.equal(true);
      expect(started(first.events)).to.include.members(["data", "split", "extract", "train", "rank", "metrics"]);
      expect(existsSync(join(root, "results", "linkedout", "seed-0", "ranks.arrow"))).to.equal(true);
      expect(existsSync(join(root, "results", "linkedout", "seed-1"))).to.equal(false);

      // resumed: seed 0 entirely from the cache; seed 1 reuses data, split and the extraction
      const second = new Reporter({ mode: "json", write: () => {} });
      await runPath(LINKEDOUT, { sets: sets(), seeds: [0, 1], reporter: second, print: () => {}, cwd: root });
      expect(started(second.events).sort()).to.deep.equal(["embed", "metrics", "rank", "report", "train"]);
      expect(hits(second.events, "extract")).to.equal(2);
      const stages = (s: number) => JSON.parse(readFileSync(join(root, "results", "linkedout", `seed-${s}`, "stages.json"), "utf8")) as Record<string, { key: string }>;
      expect(stages(0).extract!.key).to.equal(stages(1).extract!.key);
      expect(stages(0).train!.key).to.not.equal(stages(1).train!.key);

      // the one-row table over both seeds
      const table = tableFromIPC(readFileSync(join(root, "results", "linkedout", "table.arrow"))).toArray();
      const hr10 = table.find((r) => r.split === "test" && r.slice === "overall" && r.metric === "hr" && r.k === 10)!;
      expect([...hr10.seeds]).to.deep.equal([0, 1]);
      const perSeed = [0, 1].map((s) => {
        const m = JSON.parse(readFileSync(join(root, "results", "linkedout", `seed-${s}`, "metrics.json"), "utf8")) as { rows: { split: string; slice: string; hr: Record<string, number> }[] };
        return m.rows.find((r) => r.split === "test" && r.slice === "overall")!.hr["10"]!;
      });
      expect([...hr10.values]).to.deep.equal(perSeed);
      expect(hr10.mean).to.be.closeTo((perSeed[0]! + perSeed[1]!) / 2, 1e-12);
      expect(hr10.ci_low).to.be.lessThan(hr10.mean);
      expect(hr10.ci_high).to.be.greaterThan(hr10.mean);
      const md = readFileSync(join(root, "results", "linkedout", "table.md"), "utf8");
      expect(md).to.include("mean over 2 training seeds (0, 1)");

      const third = new Reporter({ mode: "json", write: () => {} });
      await runPath(LINKEDOUT, { sets: sets(), seeds: [0, 1], reporter: third, print: () => {}, cwd: root });
      expect(started(third.events)).to.deep.equal([]);
      // not even a worker for the plot: table.png is only redrawn when table.arrow changes
      expect(third.events.filter((e) => e.event === "log" && e.message.startsWith("starting Python workers"))).to.deep.equal([]);
      expect(existsSync(join(root, "results", "linkedout", "table.png"))).to.equal(true);
      expect(readFileSync(join(root, "results", "linkedout", "table.md"), "utf8")).to.equal(md);
    });
  });
});
