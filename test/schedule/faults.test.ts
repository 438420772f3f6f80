// Faults at every stage, on real CLI processes (`lo-exp run --json`) with a tiny content config:
//  - kill -9 of the worker at start-up, mid-extract, mid-train, mid-embed and mid-rank in one run: each
//    is retried or resumed by itself (visible in the log) and the run ends with the metrics of an
//    uninterrupted run;
//  - the whole process group (orchestrator and workers) frozen with SIGSTOP for 45 s during training,
//    far over the heartbeat settings (3 s + 10 s grace): the run completes with no retry and the same metrics.
// One uninterrupted baseline run is shared. Training is bitwise reproducible on CPU after a resume
// (py/linkedout/train/loop.py), so metrics.json is compared exactly.
import { expect } from "chai";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onJsonEvents } from "./fixtures/json-events.js";
import { REPO_ROOT, spawnLoExp } from "../helpers.js";

const LINKEDOUT = join(REPO_ROOT, "configs/linkedout.yaml");
// Tiny: 120 users, 48 videos, one worker (so "the worker" is the one doing the stage's work), and
// heartbeat settings far under the 45 s freeze.
const TINY = [
  "dataset.synthetic.users=120",
  "dataset.synthetic.items=48",
  "extract.frames=2",
  "train.epochs=6",
  "workers.count=1",
  "workers.heartbeat_s=0.2",
  "workers.heartbeat_timeout_s=3",
  "workers.hang_grace_s=10", // 13 s in all: far under the freeze, yet no false verdict on a loaded test machine
];
const FREEZE_MS = 45_000;

type Event = Record<string, unknown>;
interface RunOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  events: Event[];
  stderr: string;
}

/** Pids of the `python -m linkedout.worker` processes under `root` (Linux /proc). */
function workerPids(root: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone meanwhile
    }
  }
  const under = (pid: number): boolean => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === root) return true;
    return false;
  };
  return [...parent.keys()].filter((pid) => {
    if (!under(pid)) return false;
    try {
      return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("linkedout.worker");
    } catch {
      return false;
    }
  });
}

function killAll(pids: readonly number[]): number {
  let n = 0;
  for (const p of pids) {
    try {
      process.kill(p, "SIGKILL");
      n++;
    } catch {
      // already gone
    }
  }
  return n;
}

/**
 * Run the CLI in its own process group; `onEvent` sees each JSON event with the child's pid. `watch`
 * (optional) is polled every 50 ms until it returns true.
 */
function runCli(sets: string[], onEvent: (ev: Event, pid: number) => void, watch?: (pid: number) => boolean, extra: string[] = []): Promise<RunOutcome> {
  const child = spawnLoExp(["run", LINKEDOUT, "--json", ...extra, ...sets.flatMap((s) => ["--set", s])], {
    detached: true, // its own process group: the freeze reaches the orchestrator and its workers, not mocha
  });
  const pid = child.pid!;
  const events: Event[] = [];
  let stderr = "";
  const poll = watch ? setInterval(() => watch(pid) && clearInterval(poll), 50) : undefined;
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  onJsonEvents<Event>(child.stdout!, (ev) => {
    events.push(ev);
    onEvent(ev, pid);
  });
  return new Promise((resolve) =>
    child.on("exit", (code, signal) => {
      if (poll) clearInterval(poll);
      resolve({ code, signal, events, stderr });
    }),
  );
}

const logs = (o: RunOutcome) => o.events.filter((e) => e.event === "log").map((e) => `${e.stage ? `[${String(e.stage)}] ` : ""}${String(e.message)}`);
const metricsOf = (results: string) => JSON.parse(readFileSync(join(results, "linkedout", "metrics.json"), "utf8")) as unknown;

describe("faults at every stage (real CLI, tiny content config)", function () {
  this.timeout(900_000);
  let root: string;
  let baseline: unknown;
  const dirs = (name: string) => [`cache_dir=${join(root, `${name}-cache`)}`, `results_dir=${join(root, `${name}-results`)}`];

  before(async () => {
    root = mkdtempSync(join(tmpdir(), "lo-faults-"));
    const base = await runCli([...dirs("base"), ...TINY], () => undefined);
    expect(base.code, base.stderr).to.equal(0);
    baseline = metricsOf(join(root, "base-results"));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it("kill -9 of the worker at start-up, mid-extract, mid-train, mid-embed, mid-rank: each retried or resumed by itself, same metrics", async () => {
    const killed: string[] = [];
    const kill = (what: string, pid: number) => {
      if (killed.includes(what)) return;
      const n = killAll(workerPids(pid));
      if (n > 0) killed.push(what);
    };
    const out = await runCli(
      [...dirs("faults"), ...TINY],
      (ev, pid) => {
        if (ev.event === "progress" && ev.stage === "extract" && Number(ev.done) > 0) kill("extract", pid);
        if (ev.event === "progress" && ev.stage === "train" && Number(ev.done) >= 1) kill("train", pid);
        if (ev.event === "stage_start" && ev.stage === "embed") kill("embed", pid);
        if (ev.event === "progress" && ev.stage === "rank") kill("rank", pid);
      },
      // the first worker, within 50 ms of its spawn: long before torch is imported and it is ready
      (pid) => {
        if (workerPids(pid).length === 0) return false;
        kill("start-up", pid);
        return true;
      },
    );
    const lines = logs(out);
    expect(out.code, `${out.stderr}\n${lines.join("\n")}`).to.equal(0);
    expect(killed).to.deep.equal(["start-up", "extract", "train", "embed", "rank"]);
    const has = (re: RegExp) => expect(lines.some((l) => re.test(l)), `${re}\n${lines.join("\n")}`).to.equal(true);
    has(/was killed by SIGKILL before it was ready .*; starting it again \(attempt 2\/3\)|was killed by SIGKILL during the handshake; starting it again \(attempt 2\/3\)/);
    has(/^\[extract\] shard \d+: worker pid \d+ died \(.*SIGKILL.*\); attempt 2\/3 on another worker/);
    has(/^\[train\] op train: worker pid \d+ on cpu was killed by SIGKILL; attempt 2\/3 on another worker, resuming from its last checkpoint/);
    // every worker killed after start-up was replaced, and the run said so
    expect(lines.filter((l) => /^replaced worker pid \d+ on cpu \(was killed by SIGKILL\) with worker pid \d+/.test(l))).to.have.length(4);
    expect(out.events.filter((e) => e.event === "stage_failed")).to.deep.equal([]);
    expect(out.events.filter((e) => e.event === "stage_done" && e.stage === "train")).to.have.length(1);
    expect(metricsOf(join(root, "faults-results"))).to.deep.equal(baseline);
  });

  it("the whole process group frozen 45 s during training, then continued: no worker declared dead, same metrics", async () => {
    let thawed: Promise<void> | undefined;
    // the baseline's cache: data, split and extraction are reused, training and what follows rerun
    const out = await runCli(
      [`cache_dir=${join(root, "base-cache")}`, `results_dir=${join(root, "stall-results")}`, ...TINY],
      (ev, pid) => {
        if (thawed || !(ev.event === "progress" && ev.stage === "train" && Number(ev.done) >= 1)) return;
        process.kill(-pid, "SIGSTOP"); // orchestrator and workers: a whole-host stall as the run sees it
        thawed = new Promise((resolve) =>
          setTimeout(() => {
            process.kill(-pid, "SIGCONT");
            resolve();
          }, FREEZE_MS),
        );
      },
      undefined,
      ["--force", "train"],
    );
    await thawed;
    const lines = logs(out);
    expect(out.code, `${out.stderr}\n${lines.join("\n")}`).to.equal(0);
    expect(thawed, "the run never reported training progress").to.not.equal(undefined);
    // the freeze was seen as this process not running, not as a silent worker
    expect(lines.some((l) => /this process was not running for \d+\.\d s \(host stall\?\)/.test(l)), lines.join("\n")).to.equal(true);
    expect(lines.filter((l) => /declared hung|attempt \d+\/\d+|replaced worker/.test(l))).to.deep.equal([]);
    expect(out.events.filter((e) => e.event === "stage_start" && e.stage === "train")).to.have.length(1);
    expect(metricsOf(join(root, "stall-results"))).to.deep.equal(baseline);
  });
});
