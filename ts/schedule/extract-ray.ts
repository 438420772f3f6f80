// The Ray engine of the extraction (extract.engine: ray, docs/cluster.md): the shards become Ray tasks
// run by the Python launcher `python -m linkedout.cluster.ray_launcher` (a subprocess), which runs the
// same work unit as `python -m linkedout.extract` per shard, lets Ray re-run a shard whose worker died,
// and finalizes the store. Its JSON-lines events on stdout become the same progress and report as the
// worker-pool engine's (ts/schedule/extract.ts), so the stage graph and the CLI do not care which ran.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { MANIFEST_FILE, readManifest } from "./tokenstore-files.js";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { findPython, REPO_ROOT } from "../worker/index.js";
import { ExtractionError, type ExtractionConfig, type ExtractionProgress, type ExtractionReport, type ShardResult } from "./extract.js";

export interface RunRayExtractionOptions {
  storeDir: string;
  /** the split's items.arrow (item, video, title) */
  itemsPath: string;
  dataset: string;
  /** the resolved model path (a directory or hub id) */
  modelPath: string;
  key: string;
  /** torch threads per shard task (workers.threads) */
  threads: number;
  onProgress?: (p: ExtractionProgress) => void;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

/** One line of the launcher's stdout (py/linkedout/cluster/ray_launcher.py docstring). */
type LauncherEvent =
  | { event: "start"; shards: number; todo: number; items: number; cached_items: number; cluster: Record<string, number>; gpus_per_shard: number }
  | { event: "progress"; shard: number; done: number; total: number; pid: number; host: string; message: string }
  | { event: "retry"; shard: number; pid: number; host: string; previous_pid: number }
  | ({ event: "shard_done"; pid: number; host: string; conflict?: string } & ShardResult)
  | { event: "finalized"; num_shards: number; items: number; failed: { item: string; reason: string }[] }
  | { event: "error"; message: string };

/** Run every shard of the store on Ray and finalize it; resolves with the same report as runExtraction. */
export async function runRayExtraction(config: ExtractionConfig, opts: RunRayExtractionOptions): Promise<ExtractionReport> {
  const t0 = Date.now();
  const r = config.extract.ray;
  const log = opts.log ?? (() => undefined);
  // the launcher reads a resolved config like `lo-exp config show` writes (JSON is YAML)
  const jobDir = mkdtempSync(join(tmpdir(), "lo-ray-job-"));
  const jobPath = join(jobDir, "resolved.yaml");
  writeFileSync(jobPath, JSON.stringify({ model: { ...config.model, path: opts.modelPath }, extract: config.extract, workers: { threads: opts.threads } }));
  const args = [
    "-m", "linkedout.cluster.ray_launcher",
    "--config", jobPath, "--items", opts.itemsPath, "--store", opts.storeDir, "--key", opts.key, "--dataset", opts.dataset,
    "--address", r.address, "--max-retries", String(r.max_retries), "--gpus-per-shard", String(r.gpus_per_shard),
    "--cpus-per-shard", String(r.cpus_per_shard), "--local-cpus", String(r.local_cpus), "--object-store-mb", String(r.object_store_mb),
  ];
  const env = {
    ...process.env,
    PYTHONPATH: [join(REPO_ROOT, "py"), process.env.PYTHONPATH].filter(Boolean).join(":"),
    PYTHONUNBUFFERED: "1",
    HF_HUB_OFFLINE: "1",
    RAY_USAGE_STATS_ENABLED: "0",
  };
  const child = spawn(findPython(), args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (b: Buffer) => {
    stderr = (stderr + b.toString()).slice(-4000);
  });
  const onAbort = () => child.kill("SIGTERM"); // the launcher stops its private Ray cluster on SIGTERM
  opts.signal?.addEventListener("abort", onAbort);

  const doneOf = new Map<number, number>();
  const baseOf = new Map<number, number>();
  const results: ShardResult[] = [];
  const retries: ExtractionReport["retries"] = [];
  let total = 0;
  let shards = 0;
  let todo = 0;
  let cachedItems = 0;
  let finalized: Extract<LauncherEvent, { event: "finalized" }> | null = null;
  let error: string | null = null;

  const lines = createInterface({ input: child.stdout });
  const exited = new Promise<number>((resolve) => child.on("close", (code, sig) => resolve(code ?? (sig ? 128 : 1))));
  for await (const line of lines) {
    let ev: LauncherEvent;
    try {
      ev = JSON.parse(line) as LauncherEvent;
    } catch {
      log(line); // a library printed to stdout: pass it on
      continue;
    }
    switch (ev.event) {
      case "start":
        ({ items: total, shards, todo, cached_items: cachedItems } = ev);
        log(`Ray cluster ${JSON.stringify(ev.cluster)}: ${ev.todo} of ${ev.shards} shard(s) to extract, ${ev.gpus_per_shard} GPU(s) each`);
        break;
      case "progress": {
        if (!baseOf.has(ev.shard)) baseOf.set(ev.shard, ev.done);
        doneOf.set(ev.shard, ev.done);
        if (opts.onProgress) {
          let done = cachedItems;
          let fresh = 0;
          for (const [sh, v] of doneOf) {
            done += v;
            fresh += v - (baseOf.get(sh) ?? v);
          }
          const elapsed = (Date.now() - t0) / 1000;
          const rate = fresh > 0 && elapsed > 0 ? fresh / elapsed : null;
          opts.onProgress({ done, total, rate, eta_s: rate ? (total - done) / rate : null, shard: ev.shard, shardDone: ev.done, shardTotal: ev.total, pid: ev.pid, message: ev.message });
        }
        break;
      }
      case "retry":
        retries.push({ shard: ev.shard, pid: ev.previous_pid, reason: `Ray worker pid ${ev.previous_pid} died; Ray re-ran the shard on pid ${ev.pid}@${ev.host}` });
        log(`shard ${ev.shard}: Ray worker pid ${ev.previous_pid} died; re-run on pid ${ev.pid}@${ev.host} (resumes its part files)`);
        baseOf.delete(ev.shard);
        break;
      case "shard_done":
        if (ev.conflict) log(`shard ${ev.shard}: ${ev.conflict}`);
        else results.push(ev);
        break;
      case "finalized":
        finalized = ev;
        break;
      case "error":
        error = ev.message;
        break;
    }
  }
  const code = await exited;
  opts.signal?.removeEventListener("abort", onAbort);
  rmSync(jobDir, { recursive: true, force: true });
  if (opts.signal?.aborted) throw new ExtractionError("extraction aborted; rerun to resume");
  if (error !== null || code !== 0 || !finalized) {
    const why = error ?? (stderr.trim().split("\n").slice(-3).join(" | ") || `exit status ${code}`);
    throw new ExtractionError(`Ray engine: ${why}`);
  }
  const manifest = readManifest(opts.storeDir);
  if (!manifest?.complete) throw new ExtractionError(`${join(opts.storeDir, MANIFEST_FILE)}: ${manifest ? "incomplete" : "missing"} after the Ray run`);
  const extracted = results.reduce((a, x) => a + x.extracted, 0);
  const skipped = cachedItems + results.reduce((a, x) => a + x.skipped, 0);
  const seconds = (Date.now() - t0) / 1000;
  return {
    key: opts.key,
    storeDir: opts.storeDir,
    items: total,
    extracted,
    skipped,
    failed: finalized.failed,
    shards,
    shardsCached: shards - todo,
    retries,
    seconds,
    itemsPerSecond: extracted > 0 ? extracted / seconds : null,
  };
}
