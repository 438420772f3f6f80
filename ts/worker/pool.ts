/**
 * WorkerPool: several workers (local processes, remote ones over CURVE) behind one `call`.
 *
 * Where a call may run is the call site's choice (`where`): "any" worker (default), "local" ones only
 * (e.g. single-process training, whose files and checkpoints must be on this host), or a device kind
 * (`{ device: "cuda" }`). Among those, the live worker with the fewest calls in flight gets it.
 *
 * Faults: a local worker that dies is replaced (in the background, or at once when no other worker may
 * take the call); a worker killed while starting is started again. A call whose worker died is retried
 * on another worker, up to `attempts` in all — by default only for ops that may run twice
 * (IDEMPOTENT_OPS); `train` with `resume: true` opts in at its call site (it continues from its
 * checkpoint). Every retry and replacement is told through `onLog` / the call's `log`.
 */
import { WorkerClient, type CallOptions, type CallResult, type StartWorkerOptions } from "./client.js";
import { WorkerError } from "./errors.js";
import { IDEMPOTENT_OPS, type OpArgs, type OpName } from "./generated/ops.js";
import type { ConnectWorkerOptions } from "./remote.js";

// Ops whose second run, after the first died part-way, gives the same result (they write then rename,
// or skip what is done): the op schemas that say `"x-idempotent": true`.
export { IDEMPOTENT_OPS } from "./generated/ops.js";

/** Where a call may run. */
export type Where = "any" | "local" | { device: "cpu" | "cuda" };

export interface PoolCallOptions extends CallOptions {
  /** Default "any". */
  where?: Where;
  /** Tries in all when the worker dies under the call. Default: the pool's maxAttempts for IDEMPOTENT_OPS, else 1. */
  attempts?: number;
  /** Where this call's retries are told (default: the pool's onLog). */
  log?: (message: string) => void;
  /** Appended to the retry line (e.g. "resuming from its last checkpoint"). */
  retryNote?: string;
}

export interface PoolOptions extends Omit<StartWorkerOptions, "device" | "endpoint"> {
  /** Number of workers (default: devices.length, else 1). */
  count?: number;
  /** One device for all workers ("cpu"), or one per worker (["cuda:0", "cuda:1"]). */
  device?: string;
  devices?: string[];
  /** Workers already running elsewhere (`lo-exp worker --keys …` on other hosts), connected over CURVE beside the local ones. */
  remote?: ConnectWorkerOptions[];
  /** Tries at starting a worker that gets killed while starting, and default tries of an idempotent op. Default 3. */
  maxAttempts?: number;
  /** Retries, replacements and liveness warnings, one line each. */
  onLog?: (message: string) => void;
}

interface PoolSlot {
  /** the device of a local worker; null for a remote one */
  device: string | null;
  worker: WorkerClient;
  replacing?: Promise<WorkerClient>;
}

const firstLine = (s: string) => s.split("\n")[0]!;

export class WorkerPool {
  private closed = false;

  private constructor(
    private readonly slots: PoolSlot[],
    private readonly startOpts: Omit<StartWorkerOptions, "device">,
    readonly maxAttempts: number,
    private readonly onLog: (message: string) => void,
  ) {}

  static async start(opts: PoolOptions = {}): Promise<WorkerPool> {
    const devices = opts.devices ?? Array.from({ length: opts.count ?? 1 }, () => opts.device ?? "cpu");
    if (opts.count !== undefined && opts.devices && opts.count !== opts.devices.length) {
      throw new WorkerError("PoolInvalid", `count ${opts.count} does not match ${opts.devices.length} devices`);
    }
    const { devices: _d, count: _c, device: _v, remote = [], maxAttempts = 3, onLog = () => undefined, ...rest } = opts;
    const startOpts: Omit<StartWorkerOptions, "device"> = { ...rest, onWarning: rest.onWarning ?? onLog };
    const started = await Promise.allSettled([
      ...devices.map((device) => startLocal(device, startOpts, maxAttempts, onLog)),
      ...remote.map((r) =>
        WorkerClient.connect({
          maxMessageBytes: rest.maxMessageBytes, heartbeatTimeoutS: rest.heartbeatTimeoutS, hangGraceS: rest.hangGraceS, onWarning: startOpts.onWarning, ...r,
        })),
    ]);
    const ok = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
    const failed = started.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed) {
      await Promise.all(ok.map((w) => w.close()));
      throw failed.reason;
    }
    const slots = ok.map((worker, i) => ({ device: i < devices.length ? devices[i]! : null, worker }));
    return new WorkerPool(slots, startOpts, maxAttempts, onLog);
  }

  /** The current workers (a replaced one is swapped for its replacement). */
  get workers(): WorkerClient[] {
    return this.slots.map((s) => s.worker);
  }

  get size(): number {
    return this.slots.length;
  }

  /**
   * Run `op` on a worker allowed by `where` with `args` typed by the op's schema (`OpArgs`); retried on
   * another worker if its worker dies (see PoolCallOptions.attempts).
   */
  async call<O extends OpName, R = Record<string, unknown>>(op: O, args: OpArgs[O], opts: PoolCallOptions = {}): Promise<CallResult<R>> {
    const { where = "any", attempts = IDEMPOTENT_OPS.has(op) ? this.maxAttempts : 1, log = this.onLog, retryNote, ...callOpts } = opts;
    for (let attempt = 1; ; attempt++) {
      const picked = this.pick(op, where); // synchronous when a live worker may take it
      const w = picked instanceof WorkerClient ? picked : await picked;
      try {
        return await w.call<O, R>(op, args, callOpts);
      } catch (err) {
        // only a death is retried: an op's own error would happen again
        if (!(err instanceof WorkerError && err.type === "WorkerDead") || w.alive) throw err;
        this.replaceInBackground(w);
        const why = firstLine(err.message).replace(/^op \S+: /, "").replace(/ while the request was pending$/, "");
        if (attempt >= attempts) {
          if (attempts === 1) throw err;
          throw new WorkerError("WorkerDead", `op ${op}: failed ${attempts} times, its worker died each time (last: ${why})`, op);
        }
        log(`op ${op}: ${why}; attempt ${attempt + 1}/${attempts} on another worker${retryNote ? `, ${retryNote}` : ""}`);
      }
    }
  }

  /** Start a replacement for a dead local worker and return it (for callers that drive workers themselves, e.g. extraction). */
  replaceDead(): Promise<WorkerClient> {
    const dead = this.slots.filter((s) => s.device !== null && !s.worker.alive);
    const slot = dead.find((s) => !s.replacing) ?? dead[0];
    if (!slot) return Promise.reject(new WorkerError("WorkerDead", "no dead local worker to replace (remote workers are restarted by whoever runs them)"));
    return this.replace(slot);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map(async (s) => {
      await s.replacing?.catch(() => undefined);
      await s.worker.close();
    }));
  }

  /** SIGKILL every local worker now (remote ones are disconnected): for interrupts, where a graceful
   * shutdown would let a running op go on for its grace period. */
  async kill(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map(async (s) => {
      await s.replacing?.catch(() => undefined);
      await s.worker.kill();
    }));
  }

  private allowed(s: PoolSlot, where: Where): boolean {
    if (where === "any") return true;
    if (where === "local") return s.device !== null;
    const device = s.device ?? s.worker.info?.device ?? "";
    return device.startsWith(where.device);
  }

  private pick(op: string, where: Where): WorkerClient | Promise<WorkerClient> {
    if (this.closed) throw new WorkerError("WorkerDead", `op ${op}: the worker pool is closed`, op);
    const candidates = this.slots.filter((s) => this.allowed(s, where));
    const live = candidates.filter((s) => s.worker.alive).map((s) => s.worker);
    if (live.length) return live.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    const local = candidates.find((s) => s.device !== null);
    if (local) return this.replace(local);
    const what = where === "any" ? "live worker" : where === "local" ? "live local worker" : `live ${where.device} worker`;
    throw new WorkerError("WorkerDead", `op ${op}: no ${what} in the pool`, op);
  }

  private replaceInBackground(dead: WorkerClient): void {
    const slot = this.slots.find((s) => s.worker === dead);
    if (slot && slot.device !== null && !this.closed) this.replace(slot).catch(() => undefined);
  }

  private replace(slot: PoolSlot): Promise<WorkerClient> {
    if (slot.worker.alive) return Promise.resolve(slot.worker);
    if (this.closed) return Promise.reject(new WorkerError("WorkerDead", `${slot.worker.who}: ${slot.worker.failure ?? "dead"}; the worker pool is closed, no replacement`));
    if (!slot.replacing) {
      const dead = slot.worker;
      slot.replacing = startLocal(slot.device!, this.startOpts, this.maxAttempts, this.onLog)
        .then(async (w) => {
          if (this.closed) {
            await w.kill();
            throw new WorkerError("WorkerDead", "the worker pool was closed while a replacement started");
          }
          slot.worker = w;
          const why = firstLine(dead.failure ?? "dead").replace(`${dead.who} `, "");
          this.onLog(`replaced ${dead.who} (${why}) with worker pid ${w.pid}`);
          return w;
        })
        .catch((err: unknown) => {
          if (!this.closed) this.onLog(`could not replace ${dead.who}: ${firstLine(err instanceof Error ? err.message : String(err))}`);
          throw err;
        })
        .finally(() => {
          slot.replacing = undefined;
        });
    }
    return slot.replacing;
  }
}

/** Start a local worker; one killed while starting (not one that fails by itself) is started again, up to `attempts` tries. */
async function startLocal(device: string, opts: Omit<StartWorkerOptions, "device">, attempts: number, log: (m: string) => void): Promise<WorkerClient> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await WorkerClient.start({ ...opts, device });
    } catch (err) {
      if (!(err instanceof WorkerError && err.type === "StartKilled") || attempt >= attempts) throw err;
      log(`${firstLine(err.message)}; starting it again (attempt ${attempt + 1}/${attempts})`);
    }
  }
}
