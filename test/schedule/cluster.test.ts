// Extraction beyond the worker pool (docs/cluster.md): the same shards run as independent processes
// (the SLURM array script's body, no orchestrator, with a retry of a few array indices) and on Ray
// actors write the store the orchestrated run writes, byte for byte.
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
  "extract.shard_size=8", // four shards: more than the 2 Ray actors, so an actor pulls a second shard
  "extract.ray.local_cpus=2", // two actors on the private Ray cluster (the default takes every CPU of the host)
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

  it("the SLURM array script, then a retry of just the missing indices as docs/cluster.md prints it (--array=1,3) + finalize == the orchestrated store", async () => {
    expect(numShards).to.equal(4);
    const store = join(tmp, "slurm");
    // the environment SLURM gives each task of `sbatch --array=SPEC`: the array's size is not the shard count
    const arrayEnv = (ids: number[], i: number) => ({
      ...env, STORE: store, SLURM_ARRAY_JOB_ID: "4242", SLURM_ARRAY_TASK_ID: String(i), SLURM_ARRAY_TASK_COUNT: String(ids.length),
      SLURM_ARRAY_TASK_MIN: String(Math.min(...ids)), SLURM_ARRAY_TASK_MAX: String(Math.max(...ids)),
    });
    const submit = (ids: number[]) => Promise.all(ids.map((i) => run("bash", ["scripts/cluster/slurm-extract.sbatch"], arrayEnv(ids, i))));
    const finalize = () => run(findPython(), ["-m", "linkedout.extract", "finalize", "--store", store, "--items", env.ITEMS!, "--json"], { PYTHONPATH: join(REPO_ROOT, "py") });

    // `--array=0-3` in which tasks 1 and 3 never ran (preempted, failed): 0 and 2 commit their shards of 4
    const first = await submit([0, 2]);
    for (const p of first) expect(p.code, p.stderr).to.equal(0);
    expect(first.map((p) => /shard (\d+)\/(\d+): (\d+) extracted/.exec(p.stderr)?.slice(1, 3))).to.deep.equal([["0", "4"], ["2", "4"]]);
    const half = await finalize();
    expect(half.code).to.equal(2);
    expect(half.stderr.trim()).to.equal(
      `linkedout.extract finalize: ${store}: 2 of 4 shards not finished, e.g. shard 1; rerun the same \`lo-exp run …\` or ` +
        "`lo-exp extract …` command (it resumes unfinished shards), or on a cluster the shard's own job " +
        "(`python -m linkedout.extract … --shard 1 --of 4`, docs/cluster.md)",
    );

    // the retry: `sbatch --array=1,3 ...` (SLURM_ARRAY_TASK_COUNT=2) still runs shards 1 and 3 of 4
    const retry = await submit([1, 3]);
    for (const p of retry) expect(p.code, p.stderr).to.equal(0);
    expect(retry.map((p) => /shard (\d+)\/(\d+): (\d+) extracted/.exec(p.stderr)?.slice(1, 3))).to.deep.equal([["1", "4"], ["3", "4"]]);
    // a re-submitted finished task returns at once, extracting nothing
    const again = await submit([2]);
    expect(again[0]!.code, again[0]!.stderr).to.equal(0);
    expect(again[0]!.stderr).to.match(/shard 2\/4: 0 extracted, \d+ already done, 0 failed/);
    const fin = await finalize();
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
    expect(fin.stderr.trim()).to.equal(
      `linkedout.extract finalize: ${store}: 1 of ${numShards} shards not finished, e.g. shard 1; rerun the same \`lo-exp run …\` or ` +
        `\`lo-exp extract …\` command (it resumes unfinished shards), or on a cluster the shard's own job (\`python -m linkedout.extract … --shard 1 --of ${numShards}\`, docs/cluster.md)`,
    );
  });

  it("--engine ray: 2 actors each load the backbone once and pull shards; one killed mid-shard is replaced, and the store equals the orchestrated one", async () => {
    let killed: number | null = null;
    const events: Record<string, unknown>[] = [];
    const reporter = new Reporter({
      mode: "json",
      write: (line) => {
        const ev = JSON.parse(line) as Record<string, unknown>;
        events.push(ev);
        const m = /^shard \d+: (\d+)\/(\d+) \(ray worker pid (\d+)@/.exec(String(ev.message ?? ""));
        if (killed === null && ev.event === "progress" && m && Number(m[1]) >= 1 && Number(m[1]) + 3 <= Number(m[2])) {
          killed = Number(m[3]);
          process.kill(killed, "SIGKILL"); // an actor's process, mid-shard: its part files stay
        }
      },
    });
    const r = await runExtractStages(CONFIG, { sets: [`cache_dir=${cache}`, ...SETS, "extract.engine=ray"], force: true, reporter });
    expect(r.key).to.equal(key); // the engine is not part of the store key
    const logs = events.filter((e) => e.event === "log").map((e) => String(e.message));
    expect(logs.filter((l) => /^Ray cluster .*: 4 of 4 shard\(s\) to extract on 2 actor\(s\), 0 GPU\(s\) each$/.test(l)).length, logs.join("\n")).to.equal(1);
    expect(killed).to.not.equal(null);
    expect(logs.filter((l) => l.includes(`Ray worker pid ${killed} died; re-run on a new actor`)).length).to.equal(1);
    expect(r.meta.retries).to.equal(1);
    expect(r.meta.failed).to.equal(0);

    // every shard done once; each actor process loaded the backbone on its first shard and reused it after
    const done = logs.map((l) => /^shard (\d+): done on Ray actor pid (\d+)@\S+ \(backbone (loaded|reused)\)$/.exec(l)).filter((m) => m !== null);
    expect(done.map((m) => Number(m[1])).sort()).to.deep.equal([0, 1, 2, 3]);
    const byPid = new Map<string, string[]>();
    for (const m of done) byPid.set(m[2]!, [...(byPid.get(m[2]!) ?? []), m[3]!]);
    expect(byPid.size).to.be.within(2, 3); // the 2 actors, and the one that replaced the killed actor
    for (const [pid, loads] of byPid) expect(loads, `actor pid ${pid}`).to.deep.equal(["loaded", ...loads.slice(1).map(() => "reused")]);
    expect([...byPid.values()].some((loads) => loads.length >= 2)).to.equal(true);
    expectSameStore(r.store, orchestrated);
  });
});
