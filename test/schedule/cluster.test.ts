// Extraction beyond the worker pool (docs/cluster.md): the same shards run as independent processes
// (the SLURM array script's body, no orchestrator) and as Ray tasks write the store the orchestrated
// run writes, byte for byte.
import { expect } from "chai";
import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { showConfig } from "../../ts/config/show.js";
import { runExtractStages } from "../../ts/schedule/extract-run.js";
import { Reporter } from "../../ts/schedule/progress.js";
import { findPython } from "../../ts/worker/index.js";
import { REPO_ROOT } from "../helpers.js";

const CONFIG = "configs/quickstart.yaml";
// one prompt and one item per generate call: every item is a durable batch, so a kill lands mid-shard
const SETS = [
  "dataset.synthetic.preset=tiny",
  "workers.count=2",
  "extract.frames=4",
  "extract.prompts=[\"Describe this video.\"]",
  "extract.merged_tokens=4",
  "extract.max_new_tokens=3",
  "extract.batch_size=1",
  "extract.shard_size=15", // two shards: both run at once on the 2-CPU Ray cluster, so a killed worker is always mid-task
];

interface Proc {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], env: Record<string, string>): Promise<Proc> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    p.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    p.on("error", reject);
    p.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** The store's files that must not depend on who ran the shards (shard summaries carry attempt ids). */
function storeBytes(dir: string): Map<string, Buffer> {
  const names = readdirSync(dir).filter((f) => /^shard-\d+\.arrow$/.test(f) || f === "manifest.json" || f === "settings.json");
  return new Map(names.sort().map((f) => [f, readFileSync(join(dir, f))]));
}

function expectSameStore(got: string, want: string): void {
  const a = storeBytes(got);
  const b = storeBytes(want);
  expect([...a.keys()]).to.deep.equal([...b.keys()]);
  expect([...b.keys()].filter((f) => f.startsWith("shard-")).length).to.be.greaterThan(1);
  for (const [f, bytes] of b) expect(a.get(f)!.equals(bytes), `${f} differs`).to.equal(true);
  expect(readdirSync(got).filter((f) => f.includes(".part-"))).to.deep.equal([]);
}

describe("extraction as a cluster work unit (python -m linkedout.extract, SLURM script, Ray)", function () {
  this.timeout(900_000);
  let tmp: string;
  let cache: string;
  let orchestrated: string; // a copy of the worker-pool run's store
  let key: string;
  let numShards: number;
  let env: Record<string, string>;

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), "lo-cluster-"));
    cache = join(tmp, "cache");
    const quiet = new Reporter({ mode: "json", write: () => undefined });
    const first = await runExtractStages(CONFIG, { sets: [`cache_dir=${cache}`, ...SETS], reporter: quiet });
    key = first.key;
    orchestrated = join(tmp, "orchestrated");
    cpSync(first.store, orchestrated, { recursive: true });
    numShards = (JSON.parse(readFileSync(join(orchestrated, "manifest.json"), "utf8")) as { num_shards: number }).num_shards;
    const splitKey = readdirSync(join(cache, "split")).find((d) => /^[0-9a-f]+$/.test(d))!;
    const model = join(cache, "models", readdirSync(join(cache, "models")).find((d) => d.startsWith("tiny-"))!);
    const resolved = join(tmp, "resolved.yaml");
    writeFileSync(resolved, await showConfig(CONFIG, { sets: [`cache_dir=${cache}`, ...SETS, `model.path=${model}`] }));
    env = { RESOLVED: resolved, ITEMS: join(cache, "split", splitKey, "items.arrow"), KEY: key, DATASET: splitKey, LINKEDOUT_DIR: REPO_ROOT, LINKEDOUT_PYTHON: findPython() };
  });

  after(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("N shard processes started independently (the SLURM array script) + finalize == the orchestrated store, byte for byte", async () => {
    const store = join(tmp, "slurm");
    const shardEnv = (i: number) => ({ ...env, STORE: store, SLURM_ARRAY_TASK_ID: String(i), SLURM_ARRAY_TASK_COUNT: String(numShards) });
    const procs = await Promise.all(Array.from({ length: numShards }, (_, i) => run("bash", ["scripts/cluster/slurm-extract.sbatch"], shardEnv(i))));
    for (const p of procs) expect(p.code, p.stderr).to.equal(0);
    expect(procs.map((p) => /shard (\d+)\/\d+: (\d+) extracted/.exec(p.stderr)?.[1])).to.deep.equal(procs.map((_, i) => String(i)));
    const fin = await run(findPython(), ["-m", "linkedout.extract", "finalize", "--store", store, "--items", env.ITEMS!, "--json"], { PYTHONPATH: join(REPO_ROOT, "py") });
    expect(fin.code, fin.stderr).to.equal(0);
    expect(JSON.parse(fin.stdout)).to.include({ event: "finalized", num_shards: numShards });
    expectSameStore(store, orchestrated);
  });

  it("a shard index out of range and an unfinished store are one-line errors", async () => {
    const bad = await run(findPython(), ["-m", "linkedout.extract", "--config", env.RESOLVED!, "--items", env.ITEMS!, "--store", join(tmp, "x"), "--shard", "9", "--of", "2"], { PYTHONPATH: join(REPO_ROOT, "py") });
    expect(bad.code).to.equal(2);
    expect(bad.stderr.trim()).to.equal("linkedout.extract: --shard 9: not in [0, 2)");
    const store = join(tmp, "half");
    cpSync(orchestrated, store, { recursive: true });
    rmSync(join(store, "shard-1.json"));
    const fin = await run(findPython(), ["-m", "linkedout.extract", "finalize", "--store", store], { PYTHONPATH: join(REPO_ROOT, "py") });
    expect(fin.code).to.equal(2);
    expect(fin.stderr.trim()).to.equal(`linkedout.extract finalize: ${store}: 1 of ${numShards} shards not finished, e.g. shard 1 (run it: --shard 1 --of ${numShards})`);
  });

  it("--engine ray on a private local Ray cluster: survives a killed Ray worker and equals the orchestrated store", async () => {
    let killed: number | null = null;
    const events: Record<string, unknown>[] = [];
    const reporter = new Reporter({
      mode: "json",
      write: (line) => {
        const ev = JSON.parse(line) as Record<string, unknown>;
        events.push(ev);
        const m = /^shard \d+: (\d+)\/(\d+) \(ray worker pid (\d+)@/.exec(String(ev.message ?? ""));
        if (killed === null && ev.event === "progress" && m && Number(m[1]) >= 1 && Number(m[1]) + 5 <= Number(m[2])) {
          killed = Number(m[3]);
          process.kill(killed, "SIGKILL"); // mid-shard: its part files stay, Ray re-runs the task
        }
      },
    });
    const r = await runExtractStages(CONFIG, { sets: [`cache_dir=${cache}`, ...SETS, "extract.engine=ray"], force: true, reporter });
    expect(r.key).to.equal(key); // the engine is not part of the store key
    expect(killed).to.not.equal(null);
    const retried = events.filter((e) => e.event === "log" && String(e.message).includes(`Ray worker pid ${killed} died`));
    expect(retried.length).to.equal(1);
    expect(r.meta.retries).to.equal(1);
    expect(r.meta.failed).to.equal(0);
    expectSameStore(r.store, orchestrated);
  });
});
