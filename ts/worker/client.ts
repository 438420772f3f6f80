/**
 * WorkerClient: the RPC client of one Python worker (py/linkedout/worker) over a ZeroMQ DEALER (the
 * worker binds a ROUTER). See docs/protocol.md. Its other jobs live beside it:
 *   supervisor.ts  spawn the local process, ready line, log tail, exit
 *   liveness.ts    heartbeats judged over the time this process ran (a host stall is not a death)
 *   frames.ts      Arrow frames and the shared-memory negotiation
 *   remote.ts      CURVE keys and the handshake of a worker on another host
 *
 * Liveness: the worker sends a heartbeat every `heartbeatS`. When its process exits, every pending call
 * rejects at once with a WorkerError naming its op and the exit code / signal. A worker alive but silent
 * for `heartbeatTimeoutS` gets a warning (`onWarning`); silent `hangGraceS` longer it is declared hung,
 * SIGKILLed, and its calls fail. Either way the client is dead (start a new one; WorkerPool does).
 *
 * `connectWorker` reaches a worker that runs elsewhere over CURVE: same calls, no process to watch
 * (missing heartbeats are how it dies), and every frame goes over the socket (no shm).
 */
import { rmSync } from "node:fs";
import { randomUUID } from "node:crypto";
import * as zmq from "zeromq";
import type { Table } from "apache-arrow";
import { TensorCodecError, type Tensor } from "./codec.js";
import { WorkerError } from "./errors.js";
import { FrameChannel, type InFrame, type OutFrame } from "./frames.js";
import { Liveness } from "./liveness.js";
import type { OpArgs, OpName } from "./generated/ops.js";
import { argsProblem, headerProblem, PROTOCOL_VERSION, type ProgressInfo, type ReplyHeader, type RequestHeader } from "./protocol.js";
import { connectFailure, openRemoteSocket, watchHandshake, type ConnectWorkerOptions } from "./remote.js";
import type { Slot } from "./shm.js";
import { describeExit, hasExited, spawnWorkerProcess, type ExitStatus, type WorkerProcess } from "./supervisor.js";

export { READY_PREFIX } from "./supervisor.js";
export type { InFrame, OutFrame } from "./frames.js";
export type { ConnectWorkerOptions } from "./remote.js";
export const DEFAULT_MAX_MESSAGE_BYTES = 1 << 30;

export interface StartWorkerOptions {
  /** "cpu" or "cuda:N" (pinned with CUDA_VISIBLE_DEVICES=N; the worker then sees cuda:0). */
  device?: string;
  /** torch CPU threads (also OMP/MKL/OpenBLAS). Default 1. */
  threads?: number;
  /** ipc://… or tcp://127.0.0.1:PORT; default ipc:// in a private mkdtemp directory (0700). */
  endpoint?: string;
  python?: string;
  heartbeatS?: number;
  /**
   * Warn when nothing arrives for this long (counted while this process runs). Default max(20, 10 ×
   * heartbeatS): generous, because a C extension holding the GIL can delay heartbeats; a dead process
   * is detected at once anyway.
   */
  heartbeatTimeoutS?: number;
  /** Further silence after the warning before the worker is declared hung and SIGKILLed. Default 60 s. */
  hangGraceS?: number;
  maxMessageBytes?: number;
  /** How long to wait for the worker to import torch and bind. Default 120 s. */
  startTimeoutS?: number;
  env?: Record<string, string>;
  /**
   * Move tensors of at least `shmMinBytes` through files in a private /dev/shm directory instead of
   * the socket (same host only). Default: on for ipc:// endpoints where /dev/shm exists.
   */
  shm?: boolean;
  shmMinBytes?: number;
  /** Receives worker stdout/stderr lines (default: kept only as a tail for error messages). */
  onLog?: (line: string, stream: "stdout" | "stderr") => void;
  /** Liveness warnings: alive but silent, recovered, this process was stalled. */
  onWarning?: (message: string) => void;
}

export interface CallOptions {
  frames?: InFrame[];
  onProgress?: (p: ProgressInfo) => void;
  /** Reject (the worker keeps running the op) after this many ms. Default: no timeout. */
  timeoutMs?: number;
}

export class CallResult<R = Record<string, unknown>> {
  constructor(
    readonly result: R,
    readonly frames: OutFrame[],
  ) {}
  /** The tensor frame called `name` (throws if absent or a table). */
  tensor(name: string): Tensor {
    const f = this.frames.find((x) => x.name === name);
    if (!f || !("tensor" in f)) throw new WorkerError("FrameMissing", `reply has no tensor frame '${name}' (has: ${this.frames.map((x) => x.name).join(", ") || "none"})`);
    return f.tensor;
  }
  /** The table frame called `name` (throws if absent or a tensor). */
  table(name: string): Table {
    const f = this.frames.find((x) => x.name === name);
    if (!f || !("table" in f)) throw new WorkerError("FrameMissing", `reply has no table frame '${name}' (has: ${this.frames.map((x) => x.name).join(", ") || "none"})`);
    return f.table;
  }
}

/** What the worker said in the handshake (hello op result). */
export interface WorkerInfo {
  protocol: number;
  pid: number;
  device: string;
  threads: number;
  cuda_available: boolean;
  cuda_device_count: number;
  executable: string;
  versions: Record<string, string>;
}

interface Pending {
  op: string;
  slots: Slot[]; // shm files lent to this request (inputs and offered outputs), returned on settle
  resolve: (r: CallResult<never>) => void;
  reject: (e: Error) => void;
  onProgress?: (p: ProgressInfo) => void;
  timer?: NodeJS.Timeout;
}

interface LivenessSettings {
  timeoutMs: number;
  graceMs: number;
  tickMs: number;
  onWarning?: (message: string) => void;
}

export class WorkerClient {
  info!: WorkerInfo;
  private readonly pending = new Map<string, Pending>();
  private sendChain: Promise<void> = Promise.resolve();
  private deadReason: string | null = null;
  private liveness?: Liveness;
  private closing = false;
  /** Resolves when the process has exited (a remote worker's client: when it is dead). */
  readonly exited: Promise<ExitStatus>;
  /** Resolves `exited` of a remote worker's client (there is no process to wait for). */
  private markExited?: (how: ExitStatus) => void;

  private constructor(
    private readonly wp: WorkerProcess | null, // null: a remote worker (connectWorker)
    private readonly dealer: zmq.Dealer,
    readonly endpoint: string,
    readonly device: string,
    private readonly frames: FrameChannel,
  ) {
    this.exited = new Promise((resolve) => {
      const proc = wp?.proc;
      if (!proc) {
        this.markExited = resolve;
        return;
      }
      const onExit = (code: number | null, signal: string | null) => {
        this.fail(`worker pid ${proc.pid} on ${device} ${describeExit(code, signal)}`);
        resolve({ code, signal });
      };
      if (hasExited(proc)) onExit(proc.exitCode, proc.signalCode);
      else proc.once("exit", onExit);
    });
  }

  /** The worker's process id (on its own host for a remote worker; -1 before the handshake). */
  get pid(): number {
    return this.wp ? (this.wp.proc.pid ?? -1) : (this.info?.pid ?? -1);
  }
  /** Whether the worker runs elsewhere (connectWorker): no process of ours, no shm. */
  get remote(): boolean {
    return this.wp === null;
  }
  /** How messages name this worker. */
  get who(): string {
    return this.wp ? `worker pid ${this.pid} on ${this.device}` : `remote worker ${this.endpoint}`;
  }
  get alive(): boolean {
    return this.deadReason === null;
  }
  /** Why the client is dead (exit, hang, disconnect), or null while alive. */
  get failure(): string | null {
    return this.deadReason;
  }
  /** The private directory of shm frames, or null when every frame goes over the socket. */
  get shmDir(): string | null {
    return this.frames.dir;
  }
  get maxMessageBytes(): number {
    return this.frames.maxMessageBytes;
  }
  /** Number of calls awaiting a reply. */
  get inFlight(): number {
    return this.pending.size;
  }
  /** The last lines the worker printed (for error messages). */
  get log(): string[] {
    return [...(this.wp?.logTail ?? [])];
  }

  static async start(opts: StartWorkerOptions = {}): Promise<WorkerClient> {
    const device = opts.device ?? "cpu";
    const heartbeatS = opts.heartbeatS ?? 1;
    const maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    const startTimeoutS = opts.startTimeoutS ?? 120;
    const wp = await spawnWorkerProcess({
      device, threads: opts.threads ?? 1, heartbeatS, maxMessageBytes, endpoint: opts.endpoint, python: opts.python,
      startTimeoutS, env: opts.env, onLog: opts.onLog,
    });
    const dealer = new zmq.Dealer({ linger: 0, maxMessageSize: maxMessageBytes * 4, sendHighWaterMark: 0, receiveHighWaterMark: 0 });
    dealer.connect(wp.endpoint);
    const frames = FrameChannel.open(wp.endpoint, maxMessageBytes, opts.shm, opts.shmMinBytes);
    const client = new WorkerClient(wp, dealer, wp.endpoint, device, frames);
    client.receiveLoop();
    client.watch({
      timeoutMs: (opts.heartbeatTimeoutS ?? Math.max(20, 10 * heartbeatS)) * 1000,
      graceMs: (opts.hangGraceS ?? 60) * 1000,
      tickMs: Math.max(100, Math.min(1000, heartbeatS * 500)),
      onWarning: opts.onWarning,
    });
    try {
      client.info = await client.handshake(frames.helloArgs(), startTimeoutS, `worker speaks protocol`);
    } catch (err) {
      await client.kill();
      const { signal } = await client.exited;
      // killed between its ready line and the handshake: the same as killed while starting
      if (signal && err instanceof WorkerError && err.type === "WorkerDead") throw new WorkerError("StartKilled", err.message.replace(/ while the request was pending/, " during the handshake"));
      throw err;
    }
    return client;
  }

  /** Connect to a worker that is already running (a remote one: CURVE) and complete the handshake. */
  static async connect(opts: ConnectWorkerOptions): Promise<WorkerClient> {
    const maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    const socket = openRemoteSocket(opts, maxMessageBytes);
    const client = new WorkerClient(null, socket.dealer, opts.endpoint, "remote", FrameChannel.socketOnly(maxMessageBytes));
    watchHandshake(socket, (why) => client.fail(`remote worker ${opts.endpoint} refused the connection: ${why}`));
    socket.dealer.connect(opts.endpoint);
    client.receiveLoop();
    const connectTimeoutS = opts.connectTimeoutS ?? 15;
    try {
      client.info = await client.handshake({}, connectTimeoutS, `remote worker ${opts.endpoint} speaks protocol`);
    } catch (err) {
      await client.kill();
      throw connectFailure(err, opts.endpoint, socket, connectTimeoutS);
    }
    const timeoutMs = (opts.heartbeatTimeoutS ?? 20) * 1000;
    client.watch({ timeoutMs, graceMs: (opts.hangGraceS ?? 0) * 1000, tickMs: Math.max(100, Math.min(1000, timeoutMs / 4)), onWarning: opts.onWarning });
    return client;
  }

  private async handshake(extra: Record<string, unknown>, timeoutS: number, mismatch: string): Promise<WorkerInfo> {
    const hello = await this.call<"hello", WorkerInfo>("hello", { protocol: PROTOCOL_VERSION, ...extra }, { timeoutMs: timeoutS * 1000 });
    if (hello.result.protocol !== PROTOCOL_VERSION) {
      throw new WorkerError("ProtocolVersion", `${mismatch} ${hello.result.protocol}, this client ${PROTOCOL_VERSION}`);
    }
    return hello.result;
  }

  private watch(s: LivenessSettings): void {
    const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    this.liveness = new Liveness({
      timeoutMs: s.timeoutMs,
      graceMs: s.graceMs,
      tickMs: s.tickMs,
      onWarn: (silent) => {
        if (s.graceMs > 0 && !this.closing) s.onWarning?.(`${this.who} is alive but sent no heartbeat for ${secs(silent)}; declared hung if still silent after another ${secs(s.graceMs)} (workers.hang_grace_s)`);
      },
      onRecover: (silent) => s.onWarning?.(`${this.who} is heard from again after ${secs(silent)} of silence`),
      // a gap worth telling (short ones are ordinary event-loop lag on a busy host; not counted either way)
      onStall: (gap) => gap > s.timeoutMs && s.onWarning?.(`this process was not running for ${secs(gap)} (host stall?); ${this.who}'s silence during it is not counted`),
      onHung: () => {
        const total = secs(s.timeoutMs + s.graceMs);
        if (this.wp) {
          this.fail(`${this.who} sent no heartbeat for ${total} while alive: declared hung`);
          this.wp.proc.kill("SIGKILL");
        } else {
          this.fail(`${this.who} sent no heartbeat for ${total} (is it still running and reachable?)`);
        }
      },
    });
  }

  /**
   * Call `op` with JSON `args` (typed by the op's schema, `OpArgs`) and optional frames; resolves with
   * the result (`R`) or rejects with WorkerError.
   */
  async call<O extends OpName, R = Record<string, unknown>>(op: O, args: OpArgs[O], opts: CallOptions = {}): Promise<CallResult<R>> {
    if (this.deadReason) throw new WorkerError("WorkerDead", `op ${op}: ${this.deadReason}`, op);
    const argsBad = argsProblem(op, args);
    if (argsBad) throw new WorkerError("ArgsInvalid", `op ${op}: ${argsBad}`, op);
    const id = randomUUID();
    // no await without frames: the call is in flight when call() returns (least-busy dispatch counts it)
    const { descriptors, parts, slots } = opts.frames?.length ? await this.frames.encode(op, opts.frames) : { descriptors: [], parts: [], slots: [] };
    const header: RequestHeader = { v: PROTOCOL_VERSION, id, op, args, frames: descriptors };
    if (op !== "hello") {
      const offer = this.frames.offer();
      if (offer.length) {
        slots.push(...offer);
        header.shm_out = offer.map((s) => s.name);
      }
    }
    if (this.deadReason) {
      this.frames.release(slots);
      throw new WorkerError("WorkerDead", `op ${op}: ${this.deadReason}`, op);
    }
    const headerText = JSON.stringify(header);
    return new Promise<CallResult<R>>((resolve, reject) => {
      const p: Pending = { op, slots, resolve: resolve as (r: CallResult<never>) => void, reject, onProgress: opts.onProgress };
      if (opts.timeoutMs !== undefined) {
        p.timer = setTimeout(() => {
          // the worker may still be using the slots: do not reuse them
          this.pending.delete(id);
          reject(new WorkerError("Timeout", `op ${op}: no reply from ${this.who} within ${opts.timeoutMs} ms`, op));
        }, opts.timeoutMs);
      }
      this.pending.set(id, p);
      // zeromq allows one send at a time per socket: chain them.
      this.sendChain = this.sendChain
        .then(() => this.dealer.send([headerText, ...parts]))
        .catch((err: Error) => {
          if (this.pending.get(id) === p) this.settle(id, p, new WorkerError("SendFailed", `op ${op}: ${err.message}`, op));
        });
    });
  }

  private async receiveLoop(): Promise<void> {
    try {
      for await (const [headerBytes, ...frames] of this.dealer) {
        this.liveness?.seen();
        this.onMessage(headerBytes!, frames);
      }
    } catch (err) {
      if (!this.closing) this.fail(`receive failed: ${(err as Error).message}`);
    }
  }

  private onMessage(headerBytes: Buffer, frames: Buffer[]): void {
    let header: ReplyHeader;
    try {
      header = JSON.parse(headerBytes.toString("utf8")) as ReplyHeader;
    } catch {
      return this.fail(`${this.who} sent a reply whose header is not JSON`);
    }
    const problem = headerProblem("reply", header);
    if (problem) {
      const id = (header as { id?: unknown }).id;
      const p = typeof id === "string" ? this.pending.get(id) : undefined;
      if (p && typeof id === "string") this.settle(id, p, new WorkerError("ReplyInvalid", `op ${p.op}: worker reply violates schemas/protocol/reply.schema.json: ${problem}`, p.op));
      return;
    }
    if (header.kind === "heartbeat") return;
    if (header.kind === "error" && header.id === null) {
      // The worker could not read a request id; only our own malformed requests cause this.
      if (this.pending.size === 1) {
        const [id, p] = [...this.pending][0]!;
        this.settle(id, p, new WorkerError(header.error.type, header.error.message, p.op, header.error.traceback));
      }
      return;
    }
    if (header.id === null) return;
    const p = this.pending.get(header.id);
    if (!p) return; // timed out earlier
    if (header.kind === "progress") {
      p.onProgress?.(header.progress);
      return;
    }
    if (header.kind === "error") {
      return this.settle(header.id, p, new WorkerError(header.error.type, header.error.message, p.op, header.error.traceback));
    }
    if (header.frames.length !== frames.length) {
      return this.settle(header.id, p, new WorkerError("ReplyInvalid", `op ${p.op}: reply lists ${header.frames.length} frames but ${frames.length} arrived`, p.op));
    }
    try {
      this.settle(header.id, p, new CallResult(header.result as never, this.frames.decode(p.op, header.frames, frames, p.slots)));
    } catch (err) {
      const type = err instanceof WorkerError ? err.type : err instanceof TensorCodecError ? "TensorInvalid" : "ReplyInvalid";
      this.settle(header.id, p, new WorkerError(type, (err as Error).message, p.op));
    }
  }

  private settle(id: string, p: Pending, outcome: CallResult<never> | Error): void {
    this.pending.delete(id);
    if (p.timer) clearTimeout(p.timer);
    if (!this.deadReason) this.frames.release(p.slots); // the worker is done with them
    if (outcome instanceof Error) p.reject(outcome);
    else p.resolve(outcome);
  }

  /** Mark dead and reject everything pending, naming each op. */
  private fail(reason: string): void {
    if (this.deadReason) return;
    this.deadReason = reason;
    this.liveness?.stop();
    const logTail = this.wp?.logTail ?? [];
    const tail = logTail.length ? `\nworker log tail:\n${logTail.slice(-10).join("\n")}` : "";
    for (const [id, p] of this.pending) {
      this.settle(id, p, new WorkerError("WorkerDead", `op ${p.op}: ${reason} while the request was pending${this.closing ? "" : tail}`, p.op));
    }
    this.closing = true;
    this.dealer.close();
    this.frames.close();
    if (this.wp?.privateDir) rmSync(this.wp.privateDir, { recursive: true, force: true });
    this.markExited?.({ code: null, signal: null });
  }

  /**
   * Clean shutdown: ask the worker to stop (shutdown op), wait for it to exit, SIGKILL after `graceMs`.
   * A remote worker is only disconnected (it serves other runs; whoever started it stops it).
   */
  async close(graceMs = 5000): Promise<void> {
    if (!this.wp) return this.disconnect("closed by this client");
    const proc = this.wp.proc;
    if (this.alive) {
      this.closing = true;
      await this.call("shutdown", {}, { timeoutMs: graceMs }).catch(() => undefined);
      const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
      await this.exited;
      clearTimeout(timer);
    } else if (!hasExited(proc)) {
      await this.kill();
    }
    this.liveness?.stop();
  }

  /** SIGKILL the worker and wait for it (a remote worker: disconnect; its op may still run there). */
  async kill(): Promise<void> {
    if (!this.wp) return this.disconnect("disconnected by this client");
    this.closing = true;
    if (!hasExited(this.wp.proc)) this.wp.proc.kill("SIGKILL");
    await this.exited;
  }

  private async disconnect(reason: string): Promise<void> {
    this.closing = true;
    this.fail(`${this.who}: ${reason}`);
    await this.exited;
  }
}

/** Connect to a running worker (remote: over CURVE) and complete the handshake. */
export function connectWorker(opts: ConnectWorkerOptions): Promise<WorkerClient> {
  return WorkerClient.connect(opts);
}

/** Start one worker and complete the handshake. */
export function startWorker(opts: StartWorkerOptions = {}): Promise<WorkerClient> {
  return WorkerClient.start(opts);
}
