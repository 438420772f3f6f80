// The stage graph and its content-hash cache.
//
// Each stage's output lives in <cache>/<stage>/<key>/, where key = hash(stage name, version, the
// config slice the stage reads, the keys of the stages it reads from). Two configs that agree on
// everything an extraction reads share one extraction folder, whatever else differs.
//
// A stage runs in <key>.partial/, which survives interruption so a resumable stage (extraction,
// training) continues where it stopped; on success stage.json is written and the folder renamed to
// <key>/. A final folder therefore only ever exists complete. stage.json records every output file's
// size and sha256; a hit whose files do not match is a miss (cache-check.ts). <key>.lock/ (with the owner's pid)
// keeps two runs from working on the same key; a lock whose owner died is taken over.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { contentHash, writeFileAtomic } from "../util/fs.js";
import { inspectEntry, recordOutputs, type EntryState, type VerifyLevel } from "./cache-check.js";
import type { ProgressUpdate, Reporter } from "./progress.js";

export interface StageOutput {
  stage: string;
  key: string;
  /** the final, complete folder */
  dir: string;
  /** what the stage returned (also in <dir>/stage.json) */
  meta: Record<string, unknown>;
  cached: boolean;
}

export interface StageContext<C, R> {
  config: C;
  stage: string;
  key: string;
  /**
   * Where to write. Persists across interrupted attempts of the same key (resume from what is
   * there); renamed to the final folder when `run` returns. Write files inside it atomically when a
   * later attempt must be able to trust them.
   */
  dir: string;
  /** outputs of the enabled upstream stages, by name */
  inputs: Readonly<Record<string, StageOutput>>;
  progress(p: ProgressUpdate): void;
  log(message: string): void;
  signal: AbortSignal;
  /** shared per-run resources (e.g. the worker pool, started on first use) */
  resources: R;
}

export interface StageDef<C, R> {
  name: string;
  /** upstream stages whose outputs this one reads (must come earlier in the list) */
  after: readonly string[];
  /** bump when the stage's output format or algorithm changes, to invalidate old cache entries */
  version: number;
  /** a reason to skip this stage for this config (e.g. no content features), or undefined to run it */
  skip?(config: C): string | undefined;
  /** everything besides upstream keys that determines the output: the config slice it reads, input file fingerprints */
  keyParts(config: C): unknown | Promise<unknown>;
  /** output files (relative paths) that a later command may change in place, e.g. a store `add-items` appends to: not recorded or checked */
  mutable?: RegExp;
  run(ctx: StageContext<C, R>): Promise<Record<string, unknown>>;
}

export interface RunGraphOptions<R> {
  cacheDir: string;
  reporter: Reporter;
  resources: R;
  /** stage names to recompute (with everything downstream); "all" for every stage */
  force?: readonly string[];
  signal?: AbortSignal;
  /** "hashes" (`--verify-cache`): check every recorded file's sha256 on a hit, not only sizes and small files' hashes */
  verify?: VerifyLevel;
}

export class StageError extends Error {
  constructor(
    readonly stage: string,
    override readonly cause: unknown,
    /** what to do about it, when lo-exp can tell (e.g. `--force split` for a damaged cached file) */
    readonly fix?: string,
  ) {
    super(`stage ${stage} failed: ${cause instanceof Error ? cause.message : String(cause)}${fix ? ` (${fix})` : ""}`);
    this.name = "StageError";
  }
}

/** Check the stage list is well formed: unique names, dependencies earlier in the list. */
export function checkStages<C, R>(stages: readonly StageDef<C, R>[]): void {
  const seen = new Set<string>();
  for (const s of stages) {
    if (seen.has(s.name)) throw new Error(`stage ${s.name} listed twice`);
    for (const d of s.after) if (!seen.has(d)) throw new Error(`stage ${s.name} depends on ${d}, which does not come before it`);
    seen.add(s.name);
  }
}

/** The stages to recompute: the named ones and everything downstream of them. */
export function forcedClosure<C, R>(stages: readonly StageDef<C, R>[], force: readonly string[]): Set<string> {
  const names = new Set(stages.map((s) => s.name));
  if (force.includes("all")) return names;
  for (const f of force) if (!names.has(f)) throw new Error(`--force ${f}: no such stage (stages: ${[...names].join(", ")}, all)`);
  const out = new Set(force);
  for (const s of stages) if (s.after.some((d) => out.has(d))) out.add(s.name);
  return out;
}

/** The keys every stage would have for this config, without running anything. */
export async function planKeys<C, R>(stages: readonly StageDef<C, R>[], config: C): Promise<Map<string, string | undefined>> {
  const keys = new Map<string, string | undefined>();
  for (const s of stages) {
    if (s.skip?.(config) !== undefined) {
      keys.set(s.name, undefined);
      continue;
    }
    const upstream = s.after.filter((d) => keys.get(d) !== undefined).map((d) => [d, keys.get(d)]);
    keys.set(s.name, contentHash({ stage: s.name, version: s.version, parts: await s.keyParts(config), upstream }));
  }
  return keys;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Take <key>.lock/ (mkdir is atomic); wait for a live owner, take over from a dead one. */
async function acquireLock(lockDir: string, reporter: Reporter, stage: string, signal?: AbortSignal): Promise<() => void> {
  const owner = join(lockDir, "owner.json");
  let waited = false;
  for (;;) {
    signal?.throwIfAborted();
    try {
      mkdirSync(lockDir);
      writeFileSync(owner, JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() }));
      return () => rmSync(lockDir, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    let pid: number | undefined;
    let host = hostname();
    try {
      const info = JSON.parse(readFileSync(owner, "utf8")) as { pid: number; host: string };
      ({ pid, host } = info);
    } catch {
      // owner.json not written yet (the owner is between mkdir and write) or the owner died there
    }
    if (pid !== undefined && host !== hostname()) {
      // a run on another machine sharing this cache: its liveness cannot be checked from here
      if (!waited) reporter.log(`waiting for a run on ${host} (pid ${pid}) working on the same key; remove ${lockDir} if it is gone`, stage);
      waited = true;
      await sleep(2000);
      continue;
    }
    if (pid !== undefined && !pidAlive(pid)) {
      reporter.log(`taking over the lock of stopped run (pid ${pid})`, stage);
      rmSync(lockDir, { recursive: true, force: true });
      continue;
    }
    if (pid === undefined) {
      // no readable owner: give a starting owner a moment, then treat the lock as stale
      await sleep(500);
      if (existsSync(lockDir) && !existsSync(owner)) rmSync(lockDir, { recursive: true, force: true });
      continue;
    }
    if (!waited) reporter.log(`waiting for another run (pid ${pid}) working on the same key`, stage);
    waited = true;
    await sleep(1000);
  }
}

/** Move a damaged final folder aside and delete it, so the final name is never half-removed. */
function discardEntry(finalDir: string): void {
  const aside = `${finalDir}.damaged-${process.pid}`;
  renameSync(finalDir, aside);
  rmSync(aside, { recursive: true, force: true });
}

/**
 * A stage failed on a file of a cached entry (an input's folder, or its own `.partial` it resumed
 * from): name the fix, `--force` of the stage that wrote the file. undefined when no such file is named.
 */
function damagedCacheFix(err: unknown, inputs: Readonly<Record<string, StageOutput>>, stage: string, work: string): string | undefined {
  const message = err instanceof Error ? err.message : String(err);
  const named = (dir: string) => message.includes(`${dir}/`) || message.includes(`${dir}:`) || message.endsWith(dir);
  const input = Object.values(inputs).find((o) => named(o.dir));
  if (input) return `${input.dir} is the cached output of stage ${input.stage}; if that file is damaged, rerun with \`--force ${input.stage}\``;
  if (named(work)) return `${work} holds the interrupted work of stage ${stage}; if that file is damaged, rerun with \`--force ${stage}\``;
  return undefined;
}

/**
 * Run the stages in order for one config, reusing every cached output whose key matches.
 * Returns the outputs of the stages that are enabled for this config.
 */
export async function runGraph<C, R>(
  stages: readonly StageDef<C, R>[],
  config: C,
  opts: RunGraphOptions<R>,
): Promise<Map<string, StageOutput>> {
  checkStages(stages);
  const forced = forcedClosure(stages, opts.force ?? []);
  const { reporter } = opts;
  const signal = opts.signal ?? new AbortController().signal;
  const outputs = new Map<string, StageOutput>();
  for (const s of stages) {
    signal.throwIfAborted();
    const skipReason = s.skip?.(config);
    if (skipReason !== undefined) {
      reporter.emit({ event: "stage_skipped", stage: s.name, reason: skipReason });
      continue;
    }
    const inputs: Record<string, StageOutput> = {};
    for (const d of s.after) {
      const o = outputs.get(d);
      if (o) inputs[d] = o;
    }
    const upstream = Object.values(inputs).map((o) => [o.stage, o.key]);
    const key = contentHash({ stage: s.name, version: s.version, parts: await s.keyParts(config), upstream });
    const stageDir = join(opts.cacheDir, s.name);
    const finalDir = join(stageDir, key);
    const isForced = forced.has(s.name);
    const level = opts.verify ?? "sizes";
    const hit = (state: EntryState): state is { meta: Record<string, unknown>; recorded: boolean } => state !== undefined && "meta" in state;
    const useHit = (state: { meta: Record<string, unknown>; recorded: boolean }) => {
      if (level === "hashes" && !state.recorded) reporter.log(`${finalDir}: made before lo-exp recorded output hashes, not verified (\`--force ${s.name}\` recomputes and records them)`, s.name);
      reporter.emit({ event: "cache_hit", stage: s.name, key, dir: finalDir });
      outputs.set(s.name, { stage: s.name, key, dir: finalDir, meta: state.meta, cached: true });
    };
    const cached = isForced ? undefined : inspectEntry(finalDir, level);
    if (hit(cached)) {
      useHit(cached);
      continue;
    }
    mkdirSync(stageDir, { recursive: true });
    const release = await acquireLock(join(stageDir, `${key}.lock`), reporter, s.name, signal);
    try {
      // Another run may have finished (or repaired) this key while we waited for the lock.
      const entry = isForced ? undefined : inspectEntry(finalDir, level);
      if (hit(entry)) {
        useHit(entry);
        continue;
      }
      if (entry && "damaged" in entry) {
        reporter.log(`cache entry damaged, recomputing: ${entry.damaged}`, s.name);
        discardEntry(finalDir);
      }
      const work = join(stageDir, `${key}.partial`);
      const resuming = !isForced && existsSync(work);
      if (isForced) rmSync(work, { recursive: true, force: true });
      mkdirSync(work, { recursive: true });
      reporter.emit({ event: "stage_start", stage: s.name, key, reason: isForced ? "forced" : resuming ? "resuming" : "not cached" });
      const t0 = Date.now();
      let result: Record<string, unknown>;
      try {
        result = await s.run({
          config,
          stage: s.name,
          key,
          dir: work,
          inputs,
          progress: (p) => reporter.progress(s.name, p),
          log: (m) => reporter.log(m, s.name),
          signal,
          resources: opts.resources,
        });
      } catch (err) {
        // An interrupt kills the workers, so the stage's own error is just the echo of that.
        if (signal.aborted) {
          reporter.emit({ event: "stage_interrupted", stage: s.name, key, dir: work });
          throw err;
        }
        reporter.emit({ event: "stage_failed", stage: s.name, key, error: err instanceof Error ? err.message : String(err) });
        throw new StageError(s.name, err, damagedCacheFix(err, inputs, s.name, work));
      }
      signal.throwIfAborted();
      const seconds = (Date.now() - t0) / 1000;
      writeFileAtomic(
        join(work, "stage.json"),
        `${JSON.stringify({ stage: s.name, key, version: s.version, upstream: Object.fromEntries(upstream), finished: new Date().toISOString(), seconds, meta: result, files: recordOutputs(work, s.mutable) }, null, 2)}\n`,
      );
      if (existsSync(finalDir)) {
        // forced: move the old output aside first so the final name is never half-replaced
        const old = `${finalDir}.old-${process.pid}`;
        renameSync(finalDir, old);
        rmSync(old, { recursive: true, force: true });
      }
      renameSync(work, finalDir);
      reporter.emit({ event: "stage_done", stage: s.name, key, dir: finalDir, seconds });
      outputs.set(s.name, { stage: s.name, key, dir: finalDir, meta: result, cached: false });
    } finally {
      release();
    }
  }
  return outputs;
}
