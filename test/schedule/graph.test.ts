import { expect } from "chai";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { forcedClosure, planKeys, runGraph, StageError } from "../../ts/schedule/graph.js";
import { Reporter, type RunEvent } from "../../ts/schedule/progress.js";
import { expectedSum, toyConfig, toyStages, type ToyConfig } from "./fixtures/toy-stages.js";

const HERE = fileURLToPath(new URL(".", import.meta.url));

function quietReporter(): Reporter {
  return new Reporter({ mode: "json", write: () => {} });
}

async function run(cacheDir: string, config: ToyConfig, force: string[] = []) {
  const reporter = quietReporter();
  const resources = { chunksComputed: 0 };
  const outputs = await runGraph(toyStages, config, { cacheDir, reporter, resources, force });
  const kinds = (e: RunEvent["event"]) => reporter.events.filter((ev) => ev.event === e).map((ev) => (ev as { stage: string }).stage);
  return { outputs, resources, hits: kinds("cache_hit"), ran: kinds("stage_done"), skipped: kinds("stage_skipped"), reporter };
}

describe("stage graph (ts/schedule/graph)", () => {
  let cache: string;
  beforeEach(() => {
    cache = mkdtempSync(join(tmpdir(), "lo-graph-"));
  });
  afterEach(() => rmSync(cache, { recursive: true, force: true }));

  it("runs every stage once, then serves all of them from the cache", async () => {
    const c = toyConfig();
    const first = await run(cache, c);
    expect(first.ran).to.deep.equal(["numbers", "sum", "report"]);
    expect(first.resources.chunksComputed).to.equal(10);
    expect(first.outputs.get("sum")!.meta.sum).to.equal(expectedSum(c));
    const report = readFileSync(join(first.outputs.get("report")!.dir, "report.md"), "utf8");
    expect(report).to.include(`sum = ${expectedSum(c)}`);
    const again = await run(cache, c);
    expect(again.ran).to.deep.equal([]);
    expect(again.hits).to.deep.equal(["numbers", "sum", "report"]);
    expect(again.resources.chunksComputed).to.equal(0);
    expect(again.outputs.get("sum")!.meta.sum).to.equal(expectedSum(c));
  });

  it("reuses an upstream output when only a downstream section changes", async () => {
    await run(cache, toyConfig());
    const c2 = toyConfig({ sum: { scale: 5 } });
    const second = await run(cache, c2);
    expect(second.hits).to.deep.equal(["numbers"]);
    expect(second.ran).to.deep.equal(["sum", "report"]);
    expect(second.outputs.get("sum")!.meta.sum).to.equal(expectedSum(c2));
    // both sums stay cached side by side
    expect(readdirSync(join(cache, "sum")).filter((d) => !d.includes("."))).to.have.length(2);
    const keysA = await planKeys(toyStages, toyConfig());
    const keysB = await planKeys(toyStages, c2);
    expect(keysA.get("numbers")).to.equal(keysB.get("numbers"));
    expect(keysA.get("sum")).to.not.equal(keysB.get("sum"));
    expect(keysA.get("report")).to.not.equal(keysB.get("report"));
  });

  it("--force STAGE recomputes that stage and everything downstream", async () => {
    await run(cache, toyConfig());
    const forced = await run(cache, toyConfig(), ["sum"]);
    expect(forced.hits).to.deep.equal(["numbers"]);
    expect(forced.ran).to.deep.equal(["sum", "report"]);
    expect(forcedClosure(toyStages, ["numbers"])).to.deep.equal(new Set(["numbers", "sum", "report"]));
    expect(() => forcedClosure(toyStages, ["sums"])).to.throw(/--force sums: no such stage/);
  });

  it("leaves no final folder after a failure and resumes from the partial work", async () => {
    const crashing = toyConfig({ crashAfterChunks: 4 });
    let failure: unknown;
    try {
      await run(cache, crashing);
    } catch (err) {
      failure = err;
    }
    expect(failure).to.be.instanceOf(StageError);
    expect((failure as StageError).stage).to.equal("numbers");
    const entries = readdirSync(join(cache, "numbers"));
    expect(entries.filter((e) => !e.includes("."))).to.deep.equal([]); // no final folder
    expect(entries.filter((e) => e.endsWith(".partial"))).to.have.length(1);
    expect(entries.filter((e) => e.endsWith(".lock"))).to.deep.equal([]); // lock released
    const resumed = await run(cache, toyConfig());
    expect(resumed.resources.chunksComputed).to.equal(6); // 4 were kept from the failed attempt
    expect(resumed.outputs.get("sum")!.meta.sum).to.equal(expectedSum(toyConfig()));
  });

  it("leaves skipped stages out of downstream keys and outputs", async () => {
    const r = await run(cache, toyConfig({ skipReport: true }));
    expect(r.skipped).to.deep.equal(["report"]);
    expect([...r.outputs.keys()]).to.deep.equal(["numbers", "sum"]);
    expect((await planKeys(toyStages, toyConfig({ skipReport: true }))).get("report")).to.equal(undefined);
  });

  it("waits while a live run holds a key's lock, then takes over when that run is gone", async function () {
    this.timeout(30000);
    const key = (await planKeys(toyStages, toyConfig())).get("numbers")!;
    const lock = join(cache, "numbers", `${key}.lock`);
    mkdirSync(lock, { recursive: true });
    const holder = spawn("sleep", ["2"], { stdio: "ignore" });
    writeFileSync(join(lock, "owner.json"), JSON.stringify({ pid: holder.pid, host: hostname(), since: "" }));
    const t0 = Date.now();
    const r = await run(cache, toyConfig());
    expect(Date.now() - t0).to.be.greaterThan(1500); // it did wait for the holder
    const logs = r.reporter.events.filter((e) => e.event === "log").map((e) => (e as { message: string }).message);
    expect(logs[0]).to.match(/^waiting for another run \(pid \d+\)/);
    expect(logs.some((m) => m.startsWith("taking over the lock of stopped run"))).to.equal(true);
    expect(r.outputs.get("sum")!.meta.sum).to.equal(expectedSum(toyConfig()));
  });

  it("survives SIGKILL of the orchestrator mid-stage: rerun takes over the lock and gets the same answer", async function () {
    this.timeout(60000);
    const child = spawn(process.execPath, ["--import", "tsx", join(HERE, "fixtures/toy-run.ts"), cache, "150"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    // wait until a few chunks are done, then kill -9
    await new Promise<void>((resolve, reject) => {
      let buf = "";
      child.stdout.on("data", (d: Buffer) => {
        buf += d.toString();
        const done = buf.split("\n").filter((l) => l.includes('"event":"progress"')).length;
        if (done >= 3) {
          child.kill("SIGKILL");
          resolve();
        }
      });
      child.on("exit", () => reject(new Error(`child exited before it was killed: ${buf}`)));
    });
    await new Promise((r) => child.once("exit", r));
    const entries = readdirSync(join(cache, "numbers"));
    expect(entries.filter((e) => !e.includes("."))).to.deep.equal([]);
    expect(entries.filter((e) => e.endsWith(".lock"))).to.have.length(1); // the dead run's lock
    const chunksBefore = readdirSync(join(cache, "numbers", entries.find((e) => e.endsWith(".partial"))!)).filter((f) =>
      /^chunk-\d+\.json$/.test(f),
    ).length;
    expect(chunksBefore).to.be.within(3, 9);
    const resumed = await run(cache, toyConfig());
    expect(resumed.resources.chunksComputed).to.equal(10 - chunksBefore);
    expect(resumed.outputs.get("sum")!.meta.sum).to.equal(expectedSum(toyConfig()));
    expect(resumed.reporter.events.some((e) => e.event === "log" && e.message.includes("taking over the lock"))).to.equal(true);
    expect(existsSync(join(resumed.outputs.get("numbers")!.dir, "stage.json"))).to.equal(true);
  });
});
