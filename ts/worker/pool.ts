import { WorkerClient, type CallOptions, type CallResult, type ConnectWorkerOptions, type StartWorkerOptions } from "./client.js";
import { WorkerError } from "./errors.js";

export interface PoolOptions extends Omit<StartWorkerOptions, "device" | "endpoint"> {
  /** Number of workers (default: devices.length, else 1). */
  count?: number;
  /** One device for all workers ("cpu"), or one per worker (["cuda:0", "cuda:1"]). */
  device?: string;
  devices?: string[];
  /** Workers already running elsewhere (`lo-exp worker --keys …` on other hosts), connected over CURVE beside the local ones. */
  remote?: ConnectWorkerOptions[];
}

/** Several workers; each call goes to the live worker with the fewest calls in flight. */
export class WorkerPool {
  private constructor(readonly workers: WorkerClient[]) {}

  static async start(opts: PoolOptions = {}): Promise<WorkerPool> {
    const devices = opts.devices ?? Array.from({ length: opts.count ?? 1 }, () => opts.device ?? "cpu");
    if (opts.count !== undefined && opts.devices && opts.count !== opts.devices.length) {
      throw new WorkerError("PoolInvalid", `count ${opts.count} does not match ${opts.devices.length} devices`);
    }
    const { devices: _d, count: _c, device: _v, remote = [], ...rest } = opts;
    const started = await Promise.allSettled([
      ...devices.map((device) => WorkerClient.start({ ...rest, device })),
      ...remote.map((r) => WorkerClient.connect({ maxMessageBytes: rest.maxMessageBytes, ...r })),
    ]);
    const ok = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
    const failed = started.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed) {
      await Promise.all(ok.map((w) => w.close()));
      throw failed.reason;
    }
    return new WorkerPool(ok);
  }

  get size(): number {
    return this.workers.length;
  }

  call<R = Record<string, unknown>>(op: string, args: Record<string, unknown> = {}, opts: CallOptions = {}): Promise<CallResult<R>> {
    const live = this.workers.filter((w) => w.alive);
    if (live.length === 0) return Promise.reject(new WorkerError("WorkerDead", `op ${op}: no live worker in the pool`, op));
    const w = live.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    return w.call<R>(op, args, opts);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }

  /** SIGKILL every local worker now (remote ones are disconnected): for interrupts, where a graceful
   * shutdown would let a running op go on for its grace period. */
  async kill(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.kill()));
  }
}
