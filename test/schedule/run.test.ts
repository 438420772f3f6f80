// End to end on the built-in synthetic data with the tiny backbone: the shipped experiments/table4.yaml
// and configs, real Python workers, real videos, real training. One cache is shared by every test in
// this file (the extraction runs once), the kill tests use their own.
import { expect } from "chai";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tableFromIPC } from "apache-arrow";
import { Reporter, type RunEvent } from "../../ts/schedule/progress.js";
import { runConfig, runTable } from "../../ts/schedule/run.js";
import { onJsonEvents } from "./fixtures/json-events.js";
import { REPO_ROOT, spawnLoExp } from "../helpers.js";

const TABLE4 = join(REPO_ROOT, "experiments/table4.yaml");
const LINKEDOUT = join(REPO_ROOT, "configs/linkedout.yaml");
// Small enough for the test budget, large enough that the synthetic signal shows.
const SMALL = ["train.epochs=6", "extract.frames=4"];

interface MetricRow {
  split: string;
  slice: string;
  metric: string;
  k: number;
  value: number;
}

function readMetrics(file: string): MetricRow[] {
  const t = tableFromIPC(readFileSync(file));
  return t.toArray().map((r) => ({ split: r.split, slice: r.slice, metric: r.metric, k: Number(r.k), value: Number(r.value) }));
}

function metric(rows: MetricRow[], slice: string, metric: string, k: number, split = "test"): number {
  const r = rows.find((x) => x.split === split && x.slice === slice && x.metric === metric && x.k === k);
  if (!r) throw new Error(`no ${split}/${slice}/${metric}@${k}`);
  return r.value;
}

function collectingReporter(): Reporter {
  return new Reporter({ mode: "json", write: () => {} });
}

const stagesWith = (events: readonly RunEvent[], kind: RunEvent["event"], stage: string) =>
  events.filter((e) => e.event === kind && "stage" in e && e.stage === stage).length;

/** Every .arrow under dir parses completely (no half-written file); returns how many. */
function assertArrowFilesWhole(dir: string): number {
  let n = 0;
  const walk = (d: string) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (f.endsWith(".arrow") && !f.startsWith(".")) {
        tableFromIPC(readFileSync(p));
        n++;
      }
    }
  };
  walk(dir);
  return n;
}

/** Final cache folders (no suffix) always hold stage.json: they only appear by rename. */
function assertFinalFoldersComplete(cache: string): void {
  for (const stage of readdirSync(cache)) {
    if (stage === "models") continue;
    for (const entry of readdirSync(join(cache, stage))) {
      if (entry.includes(".")) continue; // .partial / .lock / temp names
      expect(existsSync(join(cache, stage, entry, "stage.json")), `${stage}/${entry}/stage.json`).to.equal(true);
    }
  }
}

describe("lo-exp run end to end (ts/schedule/run)", function () {
  this.timeout(600_000);
  let root: string;
  let cache: string;
  let results: string;
  const sets = () => [`cache_dir=${cache}`, `results_dir=${results}`, ...SMALL];

  before(() => {
    root = mkdtempSync(join(tmpdir(), "lo-run-"));
    cache = join(root, "cache");
    results = join(root, "results");
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it("runs table4: four rows, one extraction shared by all, table.md and plots; a rerun does no work", async () => {
    const reporter = collectingReporter();
    // one seed of the table's three keeps the test short (test/schedule/seeds.test.ts runs several)
    const out = await runTable(TABLE4, { sets: sets(), seeds: [0], reporter, print: () => {} });
    expect(out.rows.map((r) => r.name)).to.deep.equal([
      "ablation-last-layer-last-token",
      "ablation-mean-pool",
      "ablation-last-token",
      "linkedout",
    ]);
    // one extraction: it ran for the first row, every other row hit the cache
    expect(stagesWith(reporter.events, "stage_start", "extract")).to.equal(1);
    expect(stagesWith(reporter.events, "cache_hit", "extract")).to.equal(3);
    expect(stagesWith(reporter.events, "stage_done", "train")).to.equal(4);
    const extractDirs = new Set(out.rows.map((r) => r.outputs.get("extract")!.dir));
    expect(extractDirs.size).to.equal(1);

    const table = readFileSync(join(results, "table4", "table.md"), "utf8");
    for (const label of ["Last layer last token", "Mean pooling + MoE", "Last token + MoE", "LinkedOut (full)"]) {
      expect(table).to.include(`| ${label} |`);
    }
    expect(table).to.include("HR@10 paper");
    expect(table).to.include("0.1015"); // the paper's LinkedOut HR@10, labelled as the paper's
    expect(table).to.match(/## Cold-start targets/);
    for (const r of out.rows) {
      for (const f of ["metrics.arrow", "ranks.arrow", "gates.arrow", "train_log.arrow", "resolved.yaml", "command.txt", "gates_kde.png", "gates_box.png", "training_curves.png"]) {
        expect(existsSync(join(r.resultsDir, f)), `${r.name}/${f}`).to.equal(true);
      }
      // the table shows exactly what metrics.arrow holds
      const hr10 = metric(readMetrics(join(r.resultsDir, "metrics.arrow")), "overall", "hr", 10);
      expect(table).to.include(hr10.toFixed(4));
    }
    // ranks.arrow merged from the workers' user shards: every user once per split, top-20 lists kept
    const ranks = tableFromIPC(readFileSync(join(results, "linkedout", "seed-0", "ranks.arrow"))).toArray();
    expect(ranks.filter((r) => r.split === "test")).to.have.length(500);
    for (const r of ranks) {
      const top = [...r.topk] as string[];
      expect(top).to.have.length(20);
      expect(top.includes(r.target)).to.equal(r.rank <= 20);
    }
    const rowsLast = readMetrics(join(results, "linkedout", "seed-0", "metrics.arrow"));
    expect(rowsLast.filter((r) => r.split === "test" && r.slice === "overall")).to.have.length(4); // hr/ndcg × K 10/20

    const again = collectingReporter();
    await runTable(TABLE4, { sets: sets(), seeds: [0], reporter: again, print: () => {} });
    expect(again.events.filter((e) => e.event === "stage_start")).to.deep.equal([]);
    expect(again.events.filter((e) => e.event === "log" && e.message.startsWith("starting Python workers"))).to.deep.equal([]);
    expect(again.events.filter((e) => e.event === "cache_hit").length).to.be.greaterThan(20);
    expect(readFileSync(join(results, "table4", "table.md"), "utf8")).to.equal(table);
  });

  it("content-aware configs beat ID-only SASRec on cold-start HR@10, as table.md reports", async () => {
    // the four content rows are cached from the previous test; only SASRec (ID) trains here
    const spec = join(root, "cold.yaml");
    writeFileSync(
      spec,
      [
        "name: cold-start",
        "slices: [cold]",
        "rows:",
        `  - {label: SASRec (ID), config: ${join(REPO_ROOT, "configs/sasrec-id.yaml")}}`,
        `  - {label: Last layer last token, config: ${join(REPO_ROOT, "configs/ablation-last-layer-last-token.yaml")}}`,
        `  - {label: Mean pooling + MoE, config: ${join(REPO_ROOT, "configs/ablation-mean-pool.yaml")}}`,
        `  - {label: Last token + MoE, config: ${join(REPO_ROOT, "configs/ablation-last-token.yaml")}}`,
        `  - {label: LinkedOut (full), config: ${LINKEDOUT}}`,
        "",
      ].join("\n"),
    );
    const out = await runTable(spec, { sets: sets(), reporter: collectingReporter(), print: () => {} });
    const coldHr10 = out.rows.map((r) => metric(readMetrics(join(r.resultsDir, "metrics.arrow")), "cold", "hr", 10));
    const [idOnly, ...content] = coldHr10;
    for (const v of content) expect(v).to.be.greaterThan(idOnly!);
    const table = readFileSync(join(results, "cold-start", "table.md"), "utf8");
    const line = table.split("\n").find((l) => l.startsWith("| SASRec (ID) |"))!;
    expect(line).to.include(idOnly!.toFixed(4));
  });

  describe("interrupted runs (real CLI processes)", () => {
    let killCache: string;
    let killResults: string;
    before(() => {
      killCache = join(root, "kill-cache");
      killResults = join(root, "kill-results");
    });

    /** Start `lo-exp run configs/linkedout.yaml --json`; resolve when `when` matches an event, then signal it. */
    function runUntil(when: (ev: Record<string, unknown>) => boolean, signal: NodeJS.Signals | null) {
      const child: ChildProcess = spawnLoExp(
        ["run", LINKEDOUT, "--json", "--set", `cache_dir=${killCache}`, "--set", `results_dir=${killResults}`, ...SMALL.flatMap((s) => ["--set", s])],
        { cwd: root },
      );
      let stderr = "";
      let fired = false;
      const events: Record<string, unknown>[] = [];
      child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; events: Record<string, unknown>[]; stderr: string; workers: number[] }>(
        (resolve) => {
          let workers: number[] = [];
          onJsonEvents(child.stdout!, (ev) => {
            events.push(ev);
            if (!fired && signal && when(ev)) {
              fired = true;
              workers = childPids(child.pid!);
              child.kill(signal);
            }
          });
          child.on("exit", (code, sig) => resolve({ code, signal: sig, events, stderr, workers }));
        },
      );
      return exited;
    }

    it("SIGKILL during extraction, SIGINT and SIGKILL during training, then a clean rerun: same metrics as uninterrupted", async () => {
      const reference = readMetrics(join(results, "linkedout", "seed-0", "metrics.arrow"));

      const k1 = await runUntil((e) => e.event === "progress" && e.stage === "extract" && Number(e.done) > 0, "SIGKILL");
      expect(k1.signal, k1.stderr).to.equal("SIGKILL");
      expect(k1.workers.length).to.be.greaterThan(0);
      await waitGone(k1.workers); // orphaned workers exit on their own
      expect(readdirSync(join(killCache, "extract")).some((e) => e.endsWith(".partial"))).to.equal(true);
      assertFinalFoldersComplete(killCache);
      assertArrowFilesWhole(killCache);

      const k2 = await runUntil((e) => e.event === "progress" && e.stage === "train" && Number(e.done) >= 2, "SIGINT");
      expect(k2.code, k2.stderr).to.equal(130);
      expect(k2.events.some((e) => e.event === "stage_start" && e.stage === "extract" && e.reason === "resuming")).to.equal(true);
      expect(k2.stderr).to.include("rerun");
      const trainDir = readdirSync(join(killCache, "train")).find((e) => e.endsWith(".partial"))!;
      expect(existsSync(join(killCache, "train", trainDir, "checkpoint.pt"))).to.equal(true);
      assertFinalFoldersComplete(killCache);

      const k3 = await runUntil((e) => e.event === "progress" && e.stage === "train" && Number(e.done) >= 4, "SIGKILL");
      expect(k3.signal, k3.stderr).to.equal("SIGKILL");
      await waitGone(k3.workers);
      assertFinalFoldersComplete(killCache);
      expect(existsSync(join(killResults, "linkedout", "metrics.arrow"))).to.equal(false);

      const done = await runUntil(() => false, null);
      expect(done.code, done.stderr).to.equal(0);
      expect(done.events.some((e) => e.event === "stage_start" && e.stage === "train" && e.reason === "resuming")).to.equal(true);
      expect(done.events.some((e) => e.event === "cache_hit" && e.stage === "extract")).to.equal(true);
      const resumed = readMetrics(join(killResults, "linkedout", "metrics.arrow"));
      expect(resumed).to.deep.equal(reference);
      assertFinalFoldersComplete(killCache);
      expect(assertArrowFilesWhole(join(killResults, "linkedout"))).to.be.greaterThan(3);
    });
  });

  it("a single config prints its metrics table and records how it was made", async () => {
    let printed = "";
    const r = await runConfig(join(REPO_ROOT, "configs/pop.yaml"), { sets: sets(), reporter: collectingReporter(), print: (t) => (printed += t) });
    expect(printed).to.match(/\| test +\| cold +\|/);
    const resolved = readFileSync(join(r.resultsDir, "resolved.yaml"), "utf8");
    expect(resolved).to.match(/ranking: popularity # .*configs\/pop\.yaml:\d+:\d+/);
    expect(readFileSync(join(r.resultsDir, "command.txt"), "utf8")).to.include("configs/pop.yaml");
    expect(r.outputs.has("train")).to.equal(false);
  });
});

/** Child pids of a process (Linux /proc). */
function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

async function waitGone(pids: readonly number[], timeoutMs = 20_000): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    const alive = pids.filter((p) => {
      try {
        process.kill(p, 0);
        return true;
      } catch {
        return false;
      }
    });
    if (alive.length === 0) return;
    if (Date.now() - t0 > timeoutMs) throw new Error(`worker processes still alive after the orchestrator died: ${alive.join(", ")}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
