/**
 * WorkerClient: one Python worker process (py/linkedout/worker), started with execa and spoken to over
 * a ZeroMQ DEALER (the worker binds a ROUTER). See docs/protocol.md.
 *
 * Liveness: the worker sends a heartbeat every `heartbeatS`; if nothing arrives for `heartbeatTimeoutS`,
 * or the process exits, every pending call rejects at once with a WorkerError naming its op and the
 * exit code / signal, and the client is dead (start a new one).
 *
 * `connectWorker` reaches a worker that runs elsewhere (`lo-exp worker --bind tcp://… --keys DIR` on
 * another host) over CURVE: same calls, no process to watch (missing heartbeats are how it dies), and
 * every frame goes over the socket (no shm: the peer is on another host).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { createInterface } from "node:readline";
import type { ChildProcess } from "node:child_process";
import { execa } from "execa";
import * as zmq from "zeromq";
import type { Table } from "apache-arrow";
import { decodeTable, decodeTensor, encodeChunks, tensorToTable, TensorCodecError, type Tensor } from "./codec.js";
import { DEFAULT_SHM_MIN_BYTES, ShmPool, shmRoot, type Slot } from "./shm.js";
import { WorkerError } from "./errors.js";
import { findPython, pythonProblem, REPO_ROOT, workerLaunch } from "./python.js";
import { resolveClientKeys, resolveServerKey, type CurveKeyPair } from "./curve.js";
import {
  argsProblem,
  headerProblem,
  PROTOCOL_VERSION,
  type FrameDescriptor,
  type ProgressInfo,
  type ReplyHeader,
  type RequestHeader,
} from "./protocol.js";

export const READY_PREFIX = "LINKEDOUT_READY ";
export const DEFAULT_MAX_MESSAGE_BYTES = 1 << 30;
const EMPTY = new Uint8Array(0);

/** An input frame: a tensor (tensor layout) or an Arrow table (table layout). */
export type InFrame = { name: string; tensor: Tensor } | { name: string; table: Table };
/** An output frame as decoded. */
export type OutFrame = { name: string; tensor: Tensor } | { name: string; table: Table };

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
   * Fail the worker if nothing arrives for this long. Default max(20, 10 × heartbeatS): generous, because
   * a C extension holding the GIL can delay heartbeats; a dead process is detected at once anyway.
   */
  heartbeatTimeoutS?: number;
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
}

export interface ConnectWorkerOptions {
  /** tcp://HOST:PORT of a worker started with `lo-exp worker --bind … --keys DIR` */
  endpoint: string;
  /** the worker's public key: Z85 (40 characters) or the path of its server.key. Omit (with clientKeys) only for a loopback/ipc worker without CURVE. */
  serverPublicKey?: string;
  /** this client's keypair, or the path of its client.key_secret; its public key must be in the worker's clients/ directory */
  clientKeys?: string | CurveKeyPair;
  /** How long to wait for the handshake (hello). Default 15 s. */
  connectTimeoutS?: number;
  /** Fail the worker (every pending call) if no heartbeat arrives for this long. Default 20 s. */
  heartbeatTimeoutS?: number;
  maxMessageBytes?: number;
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

/** How many pooled shm files a request offers the worker for its large results. */
const SHM_OUT_OFFER = 2;

interface Pending {
  op: string;
  slots: Slot[]; // shm files lent to this request (inputs and offered outputs), returned on settle
  resolve: (r: CallResult<never>) => void;
  reject: (e: Error) => void;
  onProgress?: (p: ProgressInfo) => void;
  timer?: NodeJS.Timeout;
}

export class WorkerClient {
  info!: WorkerInfo;
  private readonly pending = new Map<string, Pending>();
  private sendChain: Promise<void> = Promise.resolve();
  private deadReason: string | null = null;
  private lastSeen = Date.now();
  private watchdog?: NodeJS.Timeout;
  private closing = false;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: string | null }>;

  /** Resolves `exited` of a remote worker's client (there is no process to wait for). */
  private markExited?: (how: { code: number | null; signal: string | null }) => void;

  private constructor(
    private readonly proc: ChildProcess | null, // null: a remote worker (connectWorker)
    private readonly dealer: zmq.Dealer,
    readonly endpoint: string,
    readonly device: string,
    readonly maxMessageBytes: number,
    private readonly heartbeatTimeoutMs: number,
    private readonly privateDir: string | null,
    private readonly shm: ShmPool | null,
    private readonly shmMinBytes: number,
    private readonly logTail: string[], // shared with the stdout/stderr line readers
  ) {
    this.exited = new Promise((resolve) => {
      if (!proc) {
        this.markExited = resolve;
        return;
      }
      const onExit = (code: number | null, signal: string | null) => {
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        this.fail(`worker pid ${proc.pid} on ${device} ${how}`);
        resolve({ code, signal });
      };
      if (proc.exitCode !== null || proc.signalCode !== null) onExit(proc.exitCode, proc.signalCode);
      else proc.once("exit", onExit);
    });
  }

  /** The worker's process id (on its own host for a remote worker; -1 before the handshake). */
  get pid(): number {
    return this.proc ? (this.proc.pid ?? -1) : (this.info?.pid ?? -1);
  }
  /** Whether the worker runs elsewhere (connectWorker): no process of ours, no shm. */
  get remote(): boolean {
    return this.proc === null;
  }
  /** How error messages name this worker. */
  private get who(): string {
    return this.proc ? `worker pid ${this.pid} on ${this.device}` : `remote worker ${this.endpoint}`;
  }
  get alive(): boolean {
    return this.deadReason === null;
  }
  /** The private directory of shm frames, or null when every frame goes over the socket. */
  get shmDir(): string | null {
    return this.shm?.dir ?? null;
  }
  /** Number of calls awaiting a reply. */
  get inFlight(): number {
    return this.pending.size;
  }
  /** The last lines the worker printed (for error messages). */
  get log(): string[] {
    return [...this.logTail];
  }

  static async start(opts: StartWorkerOptions = {}): Promise<WorkerClient> {
    const python = opts.python ?? findPython();
    const problem = opts.python ? null : pythonProblem(python);
    if (problem) throw new WorkerError("PythonMissing", problem);
    const device = opts.device ?? "cpu";
    const threads = opts.threads ?? 1;
    const heartbeatS = opts.heartbeatS ?? 1;
    const maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    let privateDir: string | null = null;
    let endpoint = opts.endpoint;
    if (!endpoint) {
      privateDir = mkdtempSync(path.join(tmpdir(), "lo-w-")); // mode 0700
      endpoint = `ipc://${privateDir}/w.sock`;
    }
    const launch = workerLaunch(device, threads);
    if (!launch) throw new WorkerError("DeviceInvalid", `device '${device}': use "cpu" or "cuda:N"`);
    const env: Record<string, string> = { ...launch.env, ...opts.env };
    const args = ["-m", "linkedout.worker", "--bind", endpoint, "--device", launch.deviceArg, "--threads", String(threads),
      "--heartbeat-s", String(heartbeatS), "--max-message-bytes", String(maxMessageBytes)];
    const subprocess = execa(python, args, { env, reject: false, buffer: false, stdin: "ignore", stdout: "pipe", stderr: "pipe", cleanup: true, cwd: REPO_ROOT });
    subprocess.catch(() => undefined); // exits are watched through the ChildProcess "exit" event
    // At runtime execa's subprocess IS a node ChildProcess (its typings hide the EventEmitter side).
    const proc = subprocess as unknown as ChildProcess;

    const logTail: string[] = [];
    const keep = (line: string, stream: "stdout" | "stderr") => {
      logTail.push(line);
      if (logTail.length > 40) logTail.shift();
      opts.onLog?.(line, stream);
    };
    createInterface({ input: proc.stderr! }).on("line", (l) => keep(l, "stderr"));
    const ready = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new WorkerError("StartTimeout", `worker on ${device} did not become ready in ${opts.startTimeoutS ?? 120} s\n${logTail.join("\n")}`)), (opts.startTimeoutS ?? 120) * 1000);
      createInterface({ input: proc.stdout! }).on("line", (l) => {
        if (!l.startsWith(READY_PREFIX)) return keep(l, "stdout");
        clearTimeout(timer);
        try {
          resolve((JSON.parse(l.slice(READY_PREFIX.length)) as { endpoint: string }).endpoint);
        } catch {
          reject(new WorkerError("StartFailed", `worker on ${device} printed an unreadable ready line: ${l}`));
        }
      });
      // its last stderr lines may still be in the pipe when "exit" fires: wait for the streams to end
      const drained = Promise.race([
        Promise.all([once(proc.stdout!, "close"), once(proc.stderr!, "close")]),
        new Promise((r) => setTimeout(r, 1000)),
      ]);
      proc.once("exit", async (code, signal) => {
        clearTimeout(timer);
        await drained;
        reject(new WorkerError("StartFailed", `worker on ${device} ${signal ? `was killed by ${signal}` : `exited with code ${code}`} before it was ready (${python} -m linkedout.worker)\n${logTail.join("\n")}`));
      });
    });
    let bound: string;
    try {
      bound = await ready;
    } catch (err) {
      proc.kill("SIGKILL");
      if (privateDir) rmSync(privateDir, { recursive: true, force: true });
      throw err;
    }
    const dealer = new zmq.Dealer({ linger: 0, maxMessageSize: maxMessageBytes * 4, sendHighWaterMark: 0, receiveHighWaterMark: 0 });
    dealer.connect(bound);
    const useShm = opts.shm ?? (bound.startsWith("ipc://") && shmRoot() !== null);
    const shm = useShm ? ShmPool.create() : null;
    const shmMinBytes = opts.shmMinBytes ?? DEFAULT_SHM_MIN_BYTES;
    const client = new WorkerClient(proc, dealer, bound, device, maxMessageBytes, (opts.heartbeatTimeoutS ?? Math.max(20, 10 * heartbeatS)) * 1000, privateDir, shm, shmMinBytes, logTail);
    client.receiveLoop();
    client.watchdog = setInterval(() => {
      if (Date.now() - client.lastSeen > client.heartbeatTimeoutMs) {
        client.fail(`${client.who} sent no heartbeat for ${(client.heartbeatTimeoutMs / 1000).toFixed(1)} s`);
        proc.kill("SIGKILL");
      }
    }, Math.max(100, Math.min(1000, heartbeatS * 500)));
    client.watchdog.unref();
    try {
      const helloArgs: Record<string, unknown> = { protocol: PROTOCOL_VERSION };
      if (shm) Object.assign(helloArgs, { shm_dir: shm.dir, shm_min_bytes: shmMinBytes });
      const hello = await client.call<WorkerInfo>("hello", helloArgs, { timeoutMs: (opts.startTimeoutS ?? 120) * 1000 });
      if (hello.result.protocol !== PROTOCOL_VERSION) {
        throw new WorkerError("ProtocolVersion", `worker speaks protocol ${hello.result.protocol}, this client ${PROTOCOL_VERSION}`);
      }
      client.info = hello.result;
    } catch (err) {
      await client.kill();
      throw err;
    }
    return client;
  }

  /** Call `op` with JSON `args` and optional frames; resolves with the result or rejects with WorkerError. */
  async call<R = Record<string, unknown>>(op: string, args: Record<string, unknown> = {}, opts: CallOptions = {}): Promise<CallResult<R>> {
    if (this.deadReason) throw new WorkerError("WorkerDead", `op ${op}: ${this.deadReason}`, op);
    const argsBad = argsProblem(op, args);
    if (argsBad) throw new WorkerError("ArgsInvalid", `op ${op}: ${argsBad}`, op);
    const id = randomUUID();
    const descriptors: FrameDescriptor[] = [];
    const parts: Uint8Array[] = [];
    const slots: Slot[] = [];
    const giveBack = () => slots.forEach((s) => this.shm?.release(s));
    let size = 0;
    try {
      for (const f of opts.frames ?? []) {
        const chunks = await encodeChunks("tensor" in f ? tensorToTable(f.tensor) : f.table);
        const bytes = chunks.reduce((n, c) => n + c.byteLength, 0);
        size += bytes;
        if (size > this.maxMessageBytes) break;
        const layout = "tensor" in f ? "tensor" : "table";
        if (this.shm && bytes >= this.shmMinBytes) {
          const slot = this.shm.acquire(bytes);
          slots.push(slot);
          this.shm.write(slot, chunks);
          descriptors.push({ name: f.name, layout, bytes, shm: slot.name });
          parts.push(EMPTY);
        } else {
          descriptors.push({ name: f.name, layout, bytes });
          parts.push(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, bytes));
        }
      }
    } catch (err) {
      giveBack();
      throw new WorkerError(err instanceof TensorCodecError ? "TensorInvalid" : "FramesInvalid", `op ${op}: ${(err as Error).message}`, op);
    }
    if (size > this.maxMessageBytes) {
      giveBack();
      throw new WorkerError("MessageTooLarge", `op ${op}: request is over ${size} bytes, over the limit of ${this.maxMessageBytes} bytes; pass bulk data as files`, op);
    }
    const header: RequestHeader = { v: PROTOCOL_VERSION, id, op, args, frames: descriptors };
    if (this.shm && op !== "hello") {
      const offer = this.shm.offer(SHM_OUT_OFFER);
      if (offer.length) {
        slots.push(...offer);
        header.shm_out = offer.map((s) => s.name);
      }
    }
    if (this.deadReason) {
      giveBack();
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
        this.lastSeen = Date.now();
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
      const out: OutFrame[] = header.frames.map((d, i) => {
        let bytes: Uint8Array = frames[i]!;
        if (d.shm !== undefined) {
          if (!this.shm) throw new WorkerError("ReplyInvalid", `op ${p.op}: reply frame '${d.name}' is in shm but this client has no shm directory`, p.op);
          bytes = this.shm.read(d.shm, d.bytes ?? 0);
          if (!p.slots.some((s) => s.name === d.shm)) p.slots.push({ name: d.shm, size: d.bytes ?? 0 }); // a new file: ours now
        }
        const what = `op ${p.op} reply frame '${d.name}'`;
        return d.layout === "tensor" ? { name: d.name, tensor: decodeTensor(bytes, what) } : { name: d.name, table: decodeTable(bytes, what) };
      });
      this.settle(header.id, p, new CallResult(header.result as never, out));
    } catch (err) {
      const type = err instanceof WorkerError ? err.type : err instanceof TensorCodecError ? "TensorInvalid" : "ReplyInvalid";
      this.settle(header.id, p, new WorkerError(type, (err as Error).message, p.op));
    }
  }

  private settle(id: string, p: Pending, outcome: CallResult<never> | Error): void {
    this.pending.delete(id);
    if (p.timer) clearTimeout(p.timer);
    if (!this.deadReason) for (const s of p.slots) this.shm?.release(s); // the worker is done with them
    if (outcome instanceof Error) p.reject(outcome);
    else p.resolve(outcome);
  }

  /** Mark dead and reject everything pending, naming each op. */
  private fail(reason: string): void {
    if (this.deadReason) return;
    this.deadReason = reason;
    if (this.watchdog) clearInterval(this.watchdog);
    const tail = this.logTail.length ? `\nworker log tail:\n${this.logTail.slice(-10).join("\n")}` : "";
    for (const [id, p] of this.pending) {
      this.settle(id, p, new WorkerError("WorkerDead", `op ${p.op}: ${reason} while the request was pending${this.closing ? "" : tail}`, p.op));
    }
    this.closing = true;
    this.dealer.close();
    this.shm?.close();
    if (this.privateDir) rmSync(this.privateDir, { recursive: true, force: true });
    this.markExited?.({ code: null, signal: null });
  }

  /**
   * Clean shutdown: ask the worker to stop (shutdown op), wait for it to exit, SIGKILL after `graceMs`.
   * A remote worker is only disconnected (it serves other runs; whoever started it stops it).
   */
  async close(graceMs = 5000): Promise<void> {
    if (!this.proc) return this.disconnect("closed by this client");
    if (this.alive) {
      this.closing = true;
      await this.call("shutdown", {}, { timeoutMs: graceMs }).catch(() => undefined);
      const proc = this.proc;
      const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
      await this.exited;
      clearTimeout(timer);
    } else if (this.proc.exitCode === null && this.proc.signalCode === null) {
      await this.kill();
    }
    if (this.watchdog) clearInterval(this.watchdog);
  }

  /** SIGKILL the worker and wait for it (a remote worker: disconnect; its op may still run there). */
  async kill(): Promise<void> {
    if (!this.proc) return this.disconnect("disconnected by this client");
    this.closing = true;
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill("SIGKILL");
    await this.exited;
  }

  private async disconnect(reason: string): Promise<void> {
    this.closing = true;
    this.fail(`${this.who}: ${reason}`);
    await this.exited;
  }

  /** Connect to a worker that is already running (a remote one: CURVE) and complete the handshake. */
  static async connect(opts: ConnectWorkerOptions): Promise<WorkerClient> {
    const endpoint = opts.endpoint;
    const loopback = endpoint.startsWith("ipc://") || endpoint.startsWith("tcp://127.0.0.1:") || endpoint.startsWith("tcp://localhost:");
    if ((opts.serverPublicKey === undefined) !== (opts.clientKeys === undefined)) {
      throw new WorkerError("KeysInvalid", `remote worker ${endpoint}: give both serverPublicKey and clientKeys, or neither`);
    }
    if (opts.serverPublicKey === undefined && !loopback) {
      throw new WorkerError("KeysInvalid", `remote worker ${endpoint}: a worker off this host is reached only over CURVE; give serverPublicKey and clientKeys`);
    }
    const curve = opts.serverPublicKey === undefined ? null : { serverKey: resolveServerKey(opts.serverPublicKey), client: resolveClientKeys(opts.clientKeys!) };
    const maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    const dealer = new zmq.Dealer({
      linger: 0, maxMessageSize: maxMessageBytes * 4, sendHighWaterMark: 0, receiveHighWaterMark: 0,
      ...(curve ? { curveServerKey: curve.serverKey, curvePublicKey: curve.client.publicKey, curveSecretKey: curve.client.secretKey } : {}),
    });
    const client = new WorkerClient(null, dealer, endpoint, "remote", maxMessageBytes, (opts.heartbeatTimeoutS ?? 20) * 1000, null, null, DEFAULT_SHM_MIN_BYTES, []);
    // A refused handshake fails at once (the worker never sees our messages, so hello would only time out).
    const refused = (why: string) => client.fail(`remote worker ${endpoint} refused the connection: ${why}`);
    dealer.events.on("handshake:error:auth", () =>
      refused(curve ? `CURVE authentication failed: its clients/ directory does not list this client's public key ${curve.client.publicKey}` : "authentication failed"));
    dealer.events.on("handshake:error:protocol", () =>
      refused(curve ? "CURVE handshake failed (wrong server public key, or the worker does not use CURVE)" : "handshake failed: the worker requires CURVE (give serverPublicKey and clientKeys)"));
    dealer.connect(endpoint);
    client.receiveLoop();
    const connectTimeoutS = opts.connectTimeoutS ?? 15;
    try {
      const hello = await client.call<WorkerInfo>("hello", { protocol: PROTOCOL_VERSION }, { timeoutMs: connectTimeoutS * 1000 });
      if (hello.result.protocol !== PROTOCOL_VERSION) {
        throw new WorkerError("ProtocolVersion", `remote worker ${endpoint} speaks protocol ${hello.result.protocol}, this client ${PROTOCOL_VERSION}`);
      }
      client.info = hello.result;
    } catch (err) {
      await client.kill();
      if (err instanceof WorkerError && err.type === "Timeout") {
        throw new WorkerError("ConnectFailed",
          `remote worker ${endpoint} did not answer the handshake within ${connectTimeoutS} s: it is not running or not reachable, ` +
            (curve
              ? "or the CURVE handshake failed silently (serverPublicKey is not that worker's key, or it does not list this client's public key in its clients/ directory)"
              : "or it requires CURVE authentication (give serverPublicKey and clientKeys)"));
      }
      if (err instanceof WorkerError && err.type === "WorkerDead") throw new WorkerError("ConnectFailed", err.message.replace(/^op hello: /, "").replace(/ while the request was pending$/, ""));
      throw err;
    }
    client.lastSeen = Date.now();
    const heartbeatTimeoutMs = client.heartbeatTimeoutMs;
    client.watchdog = setInterval(() => {
      if (Date.now() - client.lastSeen > heartbeatTimeoutMs) client.fail(`${client.who} sent no heartbeat for ${(heartbeatTimeoutMs / 1000).toFixed(1)} s (is it still running and reachable?)`);
    }, Math.max(100, Math.min(1000, heartbeatTimeoutMs / 4)));
    client.watchdog.unref();
    return client;
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

/** Check args against the op's schema before sending (the worker checks again). */
export function checkArgs(op: string, args: unknown): string | null {
  return argsProblem(op, args);
}
