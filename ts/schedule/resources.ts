// Per-run shared resources: the Python worker pool, started on first use from the `workers` section.
import { availableParallelism } from "node:os";
import { WorkerPool } from "../worker/index.js";
import type { WorkersConfig } from "../config/index.js";
import { canonicalJson } from "../util/fs.js";
import type { Reporter } from "./progress.js";

export class RunResources {
  private poolPromise: Promise<WorkerPool> | undefined;
  private poolKey = "";

  constructor(
    private workers: WorkersConfig,
    private readonly reporter: Reporter,
    /** seconds a worker may take to start (the client's default when unset) */
    private readonly startTimeoutS?: number,
  ) {}

  /** Use these worker settings from now on (a table's rows may differ); a running pool is restarted if they do. */
  async configure(workers: WorkersConfig): Promise<void> {
    if (canonicalJson(workers) !== canonicalJson(this.workers)) {
      await this.close();
      this.workers = workers;
    }
  }

  /** The worker pool: `workers.devices` (one worker per GPU) or `workers.count` CPU workers, plus `workers.remote`. */
  pool(): Promise<WorkerPool> {
    const key = canonicalJson(this.workers);
    if (!this.poolPromise || this.poolKey !== key) {
      const w = this.workers;
      const where = w.devices.length ? w.devices.join(", ") : `${w.count} CPU worker(s)`;
      const remote = w.remote.map((r) => r.endpoint);
      this.reporter.log(`starting Python workers: ${where}, ${w.threads} thread(s) each${remote.length ? `; connecting remote workers ${remote.join(", ")}` : ""}`);
      this.poolKey = key;
      const connect = w.remote.map((r) => ({ endpoint: r.endpoint, serverPublicKey: r.server_public_key, clientKeys: r.client_keys }));
      const common = {
        threads: w.threads,
        remote: connect,
        heartbeatS: w.heartbeat_s,
        heartbeatTimeoutS: w.heartbeat_timeout_s,
        hangGraceS: w.hang_grace_s,
        maxAttempts: w.max_attempts,
        onLog: (message: string) => this.reporter.log(message),
        ...(this.startTimeoutS !== undefined ? { startTimeoutS: this.startTimeoutS } : {}),
      };
      this.poolPromise = w.devices.length
        ? WorkerPool.start({ ...common, devices: w.devices })
        : WorkerPool.start({ ...common, count: w.count, device: "cpu" });
      // a failed start must not be cached
      this.poolPromise.catch(() => {
        this.poolPromise = undefined;
      });
    }
    return this.poolPromise;
  }

  /** Worker count the pool will have (for sharding before it starts). */
  get size(): number {
    return (this.workers.devices.length || this.workers.count) + this.workers.remote.length;
  }

  /**
   * torch threads for a call that runs on one worker while the others idle (train, embed): the cores the
   * run's local CPU workers have together (count × threads, at most the machine's), or null on GPU workers,
   * whose threads only feed the device. Sharded stages keep each worker's own `threads`.
   */
  get soloThreads(): number | null {
    if (this.workers.devices.length) return null;
    return Math.max(1, Math.min(this.workers.count * this.workers.threads, availableParallelism()));
  }

  async close(): Promise<void> {
    await this.stop((pool) => pool.close());
  }

  /** Interrupt: kill the workers at once. Every stage writes then renames and checkpoints as it goes
   * (per epoch, per extracted batch), so a kill loses at most the epoch or batch in flight — whereas a
   * graceful close lets a busy worker run on for its grace period (long enough to finish a tiny run). */
  async kill(): Promise<void> {
    await this.stop((pool) => pool.kill());
  }

  private async stop(how: (pool: WorkerPool) => Promise<void>): Promise<void> {
    const p = this.poolPromise;
    this.poolPromise = undefined;
    if (!p) return;
    try {
      await how(await p);
    } catch {
      // a pool that failed to start has nothing to stop
    }
  }
}
