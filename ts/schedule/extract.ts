// Extraction orchestration (issue #4, paper §3.2/§3.4): shard the catalogue, run the Python `extract`
// op on a set of workers, show progress, resume, and retry a shard whose worker died on another one.
//
// The work itself (video LLM + hooks + reductions + TokenStore writing) is Python's; this file only
// decides what runs where. Every shard is written by one worker at a time, and the Python writer makes
// each finished batch durable, so a rerun (or a retry after a worker died) skips what is on disk; a
// writer's commit is fenced, so a timed-out worker that is still running cannot commit over its retry.
// Once every shard is committed the `finalize_store` op builds manifest.json once; the final check
// reads it back: every catalogue item is present exactly once, either extracted or failed with its reason.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { shardIds } from "../data/shard.js";
import { WorkerError, type WorkerClient, type WorkerPool } from "../worker/index.js";
import type { ExtractArgs } from "../worker/generated/ops.js";
import type { ProgressInfo } from "../worker/protocol.js";
import { contentHash } from "../util/fs.js";
import type { ExtractConfig, ModelConfig } from "../config/index.js";
import { schedulerOnlyKeys, STORE_IDENTITY_SECTIONS, storeIdentityKeys } from "../config/schema.js";
import { MANIFEST_FILE, readManifest, readShardSummary, shardDataFile, shardsWithParts, shardSummaryFile, TOKENSTORE_FORMAT } from "./tokenstore-files.js";

/** One catalogue item as the extractor sees it; extra string fields are side channels (title, transcript…). */
export interface ExtractItem {
  item: string;
  /** absolute video path, or "" (the item then fails as `missing`) */
  video: string;
  title?: string;
  [sideChannel: string]: string | number | null | undefined;
}

/** The settings the Python op takes: the section less its `x-scheduler-only` keys (sharding, retries). */
function workerExtractArgs(s: ExtractConfig): Record<string, unknown> {
  const schedulerOnly = new Set(schedulerOnlyKeys("extract"));
  return Object.fromEntries(Object.entries(s).filter(([k]) => !schedulerOnly.has(k)));
}

/**
 * What the store's content depends on (the content hash names the store directory): the format, the
 * dataset, and every `model` and `extract` key the schema marks `"x-store-identity": true`, each under
 * its own name — except two pairs where one key decides whether the other counts: the tiny model's
 * shape counts only when model.path is empty (part `model`), tap_every only when taps is empty (part
 * `taps`, rule 2: tap_every counts from layer 0; the last layer is stored beside the configured taps).
 * Python computes the same (linkedout.extract.store_identity); schemas/fixtures/store-identity.json
 * holds cases both suites check.
 */
export function extractionKeyParts(dataset: string, model: ModelConfig, s: ExtractConfig): Record<string, unknown> {
  const parts: Record<string, unknown> = { format: TOKENSTORE_FORMAT, dataset };
  const values: Record<string, Record<string, unknown>> = { model: { ...model }, extract: { ...s } };
  for (const section of STORE_IDENTITY_SECTIONS) {
    for (const key of storeIdentityKeys(section)) {
      if (key in parts) throw new Error(`store identity: ${section}.${key} collides with another part named ${key}`);
      parts[key] = values[section]![key];
    }
  }
  const { path: _path, tiny: _tiny, tap_every: _tapEvery, ...plain } = parts;
  return {
    ...plain,
    model: model.path === "" ? { tiny: model.tiny } : { path: model.path },
    taps: s.taps.length > 0 ? { taps: s.taps, rule: 2 } : { tap_every: s.tap_every, rule: 2 },
  };
}

export function extractionKey(dataset: string, model: ModelConfig, s: ExtractConfig): string {
  return contentHash(extractionKeyParts(dataset, model, s));
}

/** A progress snapshot over the whole extraction. */
export interface ExtractionProgress {
  /** items finished (extracted, failed or skipped) over all shards */
  done: number;
  total: number;
  /** items per second over the items processed in this run (skipped ones excluded) */
  rate: number | null;
  eta_s: number | null;
  shard: number;
  /** items done in that shard and its size */
  shardDone: number;
  shardTotal: number;
  /** pid of the worker that sent this update */
  pid: number;
  message: string;
}

export interface ShardResult {
  shard: number;
  items: number;
  extracted: number;
  skipped: number;
  failed: { item: string; reason: string }[];
  rows: number;
  seconds: number;
}

export interface ExtractionReport {
  key: string;
  storeDir: string;
  items: number;
  extracted: number;
  skipped: number;
  failed: { item: string; reason: string }[];
  shards: number;
  /** shards skipped without a worker call (finished in an earlier run) */
  shardsCached: number;
  /** shards re-run after their worker died */
  retries: { shard: number; pid: number; reason: string }[];
  seconds: number;
  itemsPerSecond: number | null;
}

export class ExtractionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ExtractionError";
  }
}

export interface RunExtractionOptions {
  /** the TokenStore directory (e.g. the stage graph's <cache>/extract/<key>.partial/) */
  storeDir: string;
  items: readonly ExtractItem[];
  /** dataset identity recorded in the manifest and hashed into the key */
  dataset: string;
  /** the resolved model path: a directory or hub id (see ensureBackbonePath for the tiny model) */
  modelPath: string;
  /** workers to run shards on (a WorkerPool or a list of clients); dead ones are dropped */
  workers: WorkerPool | readonly WorkerClient[];
  /** starts a replacement when a worker dies (optional: without it the others take over) */
  replaceWorker?: () => Promise<WorkerClient>;
  /** store key; default extractionKey(dataset, model, extract) */
  key?: string;
  onProgress?: (p: ExtractionProgress) => void;
  log?: (line: string) => void;
  signal?: AbortSignal;
  /** per-call timeout for one shard (ms); default none */
  shardTimeoutMs?: number;
}

/** The resolved config slices extraction reads. */
export interface ExtractionConfig {
  model: ModelConfig;
  extract: ExtractConfig;
}

/** A shard whose summary covers exactly `ids` and has no unfinished part files is done. */
function shardFinished(storeDir: string, shard: number, ids: readonly string[], retryFailed: boolean, withParts: ReadonlySet<number>): boolean {
  if (withParts.has(shard)) return false;
  const s = readShardSummary(storeDir, shard);
  if (!s || !existsSync(join(storeDir, shardDataFile(shard)))) return false;
  if (retryFailed && s.failed.length > 0) return false;
  const covered = new Set([...s.items, ...s.failed.map((f) => f.item)]);
  return covered.size === ids.length && ids.every((id) => covered.has(id));
}

function isWorkerDeath(err: unknown, w: WorkerClient): boolean {
  return (err instanceof WorkerError && (err.type === "WorkerDead" || err.type === "Timeout")) || !w.alive;
}

/**
 * Run the `extract` op over every shard of the catalogue. Resolves with a report once every shard
 * is finished; rejects (ExtractionError) when a shard fails for a reason other than its worker dying,
 * or exhausts `extract.max_attempts`, or no worker is left.
 */
export async function runExtraction(config: ExtractionConfig, opts: RunExtractionOptions): Promise<ExtractionReport> {
  const t0 = Date.now();
  const s = config.extract;
  const key = opts.key ?? extractionKey(opts.dataset, config.model, s);
  const byId = new Map<string, ExtractItem>();
  for (const it of opts.items) {
    if (byId.has(it.item)) throw new ExtractionError(`catalogue: item '${it.item}' appears twice`);
    byId.set(it.item, it);
  }
  const numShards = Math.max(1, Math.ceil(opts.items.length / s.shard_size));
  const shards = shardIds(byId.keys(), numShards);
  const log = opts.log ?? (() => undefined);

  // progress bookkeeping: per shard, items done, and how many were already done when it started
  const doneOf = new Map<number, number>();
  const baseOf = new Map<number, number>();
  let cachedItems = 0;
  const queue: { shard: number; attempts: number }[] = [];
  const withParts = shardsWithParts(opts.storeDir);
  for (const m of shards) {
    if (m.count === 0 || shardFinished(opts.storeDir, m.shard, m.ids, s.retry_failed, withParts)) {
      doneOf.set(m.shard, m.count);
      cachedItems += m.count;
    } else {
      queue.push({ shard: m.shard, attempts: 0 });
    }
  }
  const shardsCached = shards.length - queue.length;
  const total = opts.items.length;
  const results = new Map<number, ShardResult>();
  const retries: ExtractionReport["retries"] = [];
  let fatal: Error | null = null;

  const report = (shard: number, pid: number, message: string, shardDone: number, shardTotal: number): void => {
    if (!opts.onProgress) return;
    let done = 0;
    for (const v of doneOf.values()) done += v;
    let fresh = 0;
    for (const [sh, v] of doneOf) fresh += v - (baseOf.get(sh) ?? v);
    const elapsed = (Date.now() - t0) / 1000;
    const rate = fresh > 0 && elapsed > 0 ? fresh / elapsed : null;
    const eta = rate ? (total - done) / rate : null;
    opts.onProgress({ done, total, rate, eta_s: eta, shard, shardDone, shardTotal, pid, message });
  };

  const runShard = async (w: WorkerClient, job: { shard: number; attempts: number }): Promise<void> => {
    const m = shards[job.shard]!;
    const items = m.ids.map((id) => {
      const { item, video, ...side } = byId.get(id)!;
      const out: ExtractArgs["items"][number] = { item, video };
      for (const [k, v] of Object.entries(side)) if (v !== undefined) out[k] = v;
      return out;
    });
    const args = {
      store: opts.storeDir,
      key,
      dataset: opts.dataset,
      shard: m.shard,
      num_shards: numShards,
      retry_failed: s.retry_failed,
      items,
      model: { path: opts.modelPath, dtype: config.model.dtype },
      extract: workerExtractArgs(s),
    };
    baseOf.delete(m.shard);
    const r = await w.call<"extract", ShardResult>("extract", args, {
      timeoutMs: opts.shardTimeoutMs,
      onProgress: (p: ProgressInfo) => {
        if (!baseOf.has(m.shard)) baseOf.set(m.shard, p.done);
        doneOf.set(m.shard, p.done);
        report(m.shard, w.pid, p.message ?? "", p.done, m.count);
      },
    });
    if (!baseOf.has(m.shard)) baseOf.set(m.shard, r.result.skipped);
    doneOf.set(m.shard, m.count);
    results.set(m.shard, r.result);
  };

  // one loop per worker: take the next shard; on worker death requeue the shard and stop the loop
  const workerLoop = async (first: WorkerClient): Promise<void> => {
    let w: WorkerClient | null = first;
    while (w && !fatal && !opts.signal?.aborted) {
      const job = queue.shift();
      if (!job) return;
      try {
        await runShard(w, job);
      } catch (err) {
        if (isWorkerDeath(err, w)) {
          const reason = err instanceof Error ? err.message : String(err);
          retries.push({ shard: job.shard, pid: w.pid, reason });
          job.attempts += 1;
          log(`shard ${job.shard}: worker pid ${w.pid} died (${reason.split("\n")[0]}); attempt ${job.attempts + 1}/${s.max_attempts} on another worker`);
          if (job.attempts >= s.max_attempts) {
            fatal = new ExtractionError(`shard ${job.shard}: failed ${job.attempts} times, its worker died each time (last: ${reason.split("\n")[0]})`);
            return;
          }
          queue.unshift(job);
          if (w.alive) await w.kill(); // a timed-out worker may still be writing: stop it first
          w = opts.replaceWorker ? await opts.replaceWorker() : null;
          if (w) initial.push(w);
        } else {
          fatal = new ExtractionError(`shard ${job.shard}: ${err instanceof Error ? err.message : String(err)}`);
          return;
        }
      }
    }
  };

  const initial = ("workers" in opts.workers ? opts.workers.workers : opts.workers).filter((w) => w.alive);
  if (initial.length === 0 && queue.length > 0) throw new ExtractionError("no live worker to extract with");
  // All loops share the queue. A shard requeued after its worker died may find the other loops
  // already finished, so loop again over the live workers until the queue is empty.
  while (queue.length > 0 && !fatal && !opts.signal?.aborted) {
    const alive = initial.filter((w) => w.alive);
    if (alive.length === 0 && !opts.replaceWorker) {
      fatal = new ExtractionError(`every worker died; ${queue.length} shard(s) left (shards ${queue.map((j) => j.shard).join(", ")})`);
      break;
    }
    if (alive.length === 0 && opts.replaceWorker) {
      const fresh = await opts.replaceWorker();
      initial.push(fresh);
      alive.push(fresh);
    }
    await Promise.all(alive.map((w) => workerLoop(w)));
  }
  if (fatal) throw fatal;
  if (opts.signal?.aborted) throw new ExtractionError("extraction aborted; rerun to resume");

  // the manifest, built once for the whole store (shard commits never touch it: linear in shards)
  // (a rerun that found every shard committed and the manifest written has nothing to finalize)
  if (results.size > 0 || !existsSync(join(opts.storeDir, MANIFEST_FILE))) {
    const finisher = initial.find((w) => w.alive) ?? (opts.replaceWorker ? await opts.replaceWorker() : null);
    if (!finisher) throw new ExtractionError("no live worker left to finalize the store");
    try {
      await finisher.call("finalize_store", { store: opts.storeDir, items: [...byId.keys()] });
    } catch (err) {
      throw new ExtractionError(`finalize ${opts.storeDir}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  // final check: the manifest lists every shard, and every catalogue item exactly once
  const manifest = readManifest(opts.storeDir);
  if (!manifest) throw new ExtractionError(`${join(opts.storeDir, MANIFEST_FILE)}: missing after extraction`);
  if (!manifest.complete || manifest.num_shards !== numShards) {
    throw new ExtractionError(`${join(opts.storeDir, MANIFEST_FILE)}: incomplete (${manifest.num_shards} shards recorded, ${numShards} expected)`);
  }
  const seen = new Map<string, number>();
  for (const m of shards) {
    const sum = readShardSummary(opts.storeDir, m.shard);
    if (!sum) throw new ExtractionError(`shard ${m.shard}: summary ${shardSummaryFile(m.shard)} missing`);
    for (const id of [...sum.items, ...sum.failed.map((f) => f.item)]) seen.set(id, (seen.get(id) ?? 0) + 1);
  }
  for (const id of byId.keys()) {
    const n = seen.get(id) ?? 0;
    if (n !== 1) throw new ExtractionError(`item '${id}' appears ${n} times in the store (expected exactly once)`);
  }
  if (seen.size !== byId.size) throw new ExtractionError(`the store holds ${seen.size - byId.size} item(s) not in the catalogue`);

  let extracted = 0;
  let skipped = cachedItems;
  for (const r of results.values()) {
    extracted += r.extracted;
    skipped += r.skipped;
  }
  const seconds = (Date.now() - t0) / 1000;
  return {
    key,
    storeDir: opts.storeDir,
    items: total,
    extracted,
    skipped,
    failed: manifest.failed,
    shards: numShards,
    shardsCached,
    retries,
    seconds,
    itemsPerSecond: extracted > 0 ? extracted / seconds : null,
  };
}

/**
 * The model path to load: `model.path` as is, or (when empty) the tiny random model, built once with
 * the `build_tiny_model` op under `<modelsDir>/tiny-<hash>/`.
 */
export async function ensureBackbonePath(
  model: ModelConfig,
  modelsDir: string,
  worker: WorkerClient | WorkerPool | (() => Promise<WorkerClient | WorkerPool>),
): Promise<string> {
  if (model.path !== "") return model.path;
  const dir = join(modelsDir, `tiny-${contentHash(model.tiny)}`);
  if (!existsSync(join(dir, "linkedout_tiny.json"))) {
    const w = typeof worker === "function" ? await worker() : worker; // started only when the model must be built
    await w.call("build_tiny_model", { out: dir, ...model.tiny });
  }
  return dir;
}
