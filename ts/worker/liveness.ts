/**
 * Liveness of one worker judged by its heartbeats, counting only the time this orchestrator was
 * actually running.
 *
 * Why not "wall time since the last heartbeat": when the whole host freezes (every process of the run
 * stopped, a VM paused, a swap storm), our timer fires first thing on wake-up, before the poll phase
 * reads the heartbeats the worker queued meanwhile, and would kill a healthy worker. So:
 *  - silence is summed tick by tick on the monotonic clock; a tick that comes far later than asked
 *    means this process itself was not running, and that gap is not counted (the worker may well have
 *    been frozen with us);
 *  - past `timeoutMs` of counted silence a warning goes out (the worker is alive but silent: a C call
 *    holding the GIL, a busy host);
 *  - past `timeoutMs + graceMs` the verdict waits one more turn of the event loop (setImmediate runs
 *    after the poll phase), so whatever the socket holds is read before the worker is declared hung.
 * A worker whose process is gone is not judged here: its exit fails its calls at once.
 */

/** A tick later than this many times its interval (plus slack) means we were not running. */
const LATE_FACTOR = 2;
const LATE_SLACK_MS = 1000;

export interface LivenessOptions {
  /** counted silence before the warning */
  timeoutMs: number;
  /** further counted silence before the worker is declared hung */
  graceMs: number;
  /** how often silence is checked */
  tickMs: number;
  /** alive but silent for `silentMs` (once per silence) */
  onWarn(silentMs: number): void;
  /** silent for timeoutMs + graceMs: declared hung (the watch stops) */
  onHung(silentMs: number): void;
  /** a message arrived after a warning */
  onRecover?(silentMs: number): void;
  /** this process was not running for `gapMs` (a host stall); that time was not counted */
  onStall?(gapMs: number): void;
}

export class Liveness {
  private silentMs = 0;
  private lastTick = performance.now();
  private warned = false;
  private verdictPending = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: LivenessOptions) {
    this.timer = setInterval(() => this.tick(), opts.tickMs);
    this.timer.unref();
  }

  /** A message (heartbeat, progress, reply) arrived. */
  seen(): void {
    if (this.warned) this.opts.onRecover?.(this.silentMs);
    this.silentMs = 0;
    this.warned = false;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  get stopped(): boolean {
    return this.timer === undefined;
  }

  private tick(): void {
    const now = performance.now();
    const gap = now - this.lastTick;
    this.lastTick = now;
    if (gap > this.opts.tickMs * LATE_FACTOR + LATE_SLACK_MS) {
      this.opts.onStall?.(gap);
      return; // not counted; the heartbeats queued meanwhile are read in this turn's poll phase
    }
    this.silentMs += gap;
    if (!this.warned && this.silentMs > this.opts.timeoutMs) {
      this.warned = true;
      this.opts.onWarn(this.silentMs);
    }
    if (this.silentMs > this.opts.timeoutMs + this.opts.graceMs && !this.verdictPending) {
      this.verdictPending = true;
      setImmediate(() => {
        this.verdictPending = false;
        if (this.stopped || this.silentMs <= this.opts.timeoutMs + this.opts.graceMs) return; // a message came in the poll phase
        this.stop();
        this.opts.onHung(this.silentMs);
      });
    }
  }
}
