/**
 * Process supervision of one worker: spawn `python -m linkedout.worker`, keep a tail of its output,
 * wait for its ready line, and report its exit. Knows nothing of the socket protocol. The one place a
 * worker process is started: for a WorkerClient (client.ts) and for `lo-exp worker` (remote-server.ts).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { once } from "node:events";
import { createInterface } from "node:readline";
import type { ChildProcess } from "node:child_process";
import { execa } from "execa";
import { WorkerError } from "./errors.js";
import { findPython, pythonProblem, REPO_ROOT, workerLaunch } from "./python.js";

export const READY_PREFIX = "LINKEDOUT_READY ";
/** Lines of worker output kept for error messages. */
const LOG_TAIL_LINES = 40;

export interface SpawnOptions {
  device: string;
  threads: number;
  heartbeatS: number;
  /** the worker's own default when unset */
  maxMessageBytes?: number;
  /** ipc://… or tcp://127.0.0.1:PORT (any tcp:// address with `keys`); default ipc:// in a private mkdtemp directory (0700) */
  endpoint?: string;
  /** CURVE key directory (a remote worker, remote-server.ts) */
  keys?: string;
  python?: string;
  startTimeoutS: number;
  env?: Record<string, string>;
  /** its own process group: a terminal's Ctrl-C reaches only the parent, which stops it cleanly */
  detached?: boolean;
  onLog?: (line: string, stream: "stdout" | "stderr") => void;
  /** The message of a worker that exited before it was ready; default: "worker on DEVICE … before it was ready" and its output tail. */
  describeStartExit?: (exit: string, logTail: readonly string[]) => string;
}

/** The line a worker prints once its socket is bound (py/linkedout/worker/server.py). */
export interface ReadyLine {
  endpoint: string;
  pid: number;
  curve?: { server_public_key: string; clients: number };
}

export interface ExitStatus {
  code: number | null;
  signal: string | null;
}

/** A started worker process that has printed its ready line. */
export interface WorkerProcess {
  proc: ChildProcess;
  /** the endpoint it bound (the real port for tcp://…:0) */
  endpoint: string;
  /** the private socket directory to remove once the client is done, or null */
  privateDir: string | null;
  /** its last output lines (shared, still growing) */
  logTail: string[];
  /** what it printed in its ready line */
  ready: ReadyLine;
}

/** How an exit reads in messages: "was killed by SIGKILL" / "exited with code 3". */
export function describeExit(code: number | null, signal: string | null): string {
  return signal ? `was killed by ${signal}` : `exited with code ${code}`;
}

/** Whether the process has already exited. */
export function hasExited(proc: ChildProcess): boolean {
  return proc.exitCode !== null || proc.signalCode !== null;
}

/**
 * Spawn a worker and resolve once it is ready. Rejects with WorkerError: `StartKilled` when a signal
 * killed it before it was ready (worth a retry: someone else's doing), `StartFailed` when it exited on
 * its own (its stderr tail says why), `StartTimeout`.
 */
export async function spawnWorkerProcess(opts: SpawnOptions): Promise<WorkerProcess> {
  const python = opts.python ?? findPython();
  const problem = opts.python ? null : pythonProblem(python);
  if (problem) throw new WorkerError("PythonMissing", problem);
  const { device } = opts;
  let privateDir: string | null = null;
  let endpoint = opts.endpoint;
  if (!endpoint) {
    privateDir = mkdtempSync(path.join(tmpdir(), "lo-w-")); // mode 0700
    endpoint = `ipc://${privateDir}/w.sock`;
  }
  const launch = workerLaunch(device, opts.threads);
  if (!launch) throw new WorkerError("DeviceInvalid", `device '${device}': use "cpu" or "cuda:N"`);
  const env: Record<string, string> = { ...launch.env, ...opts.env };
  const args = ["-m", "linkedout.worker", "--bind", endpoint, "--device", launch.deviceArg, "--threads", String(opts.threads),
    "--heartbeat-s", String(opts.heartbeatS)];
  if (opts.maxMessageBytes !== undefined) args.push("--max-message-bytes", String(opts.maxMessageBytes));
  if (opts.keys !== undefined) args.push("--keys", opts.keys);
  // If we die anyway, a worker notices it was re-parented and exits (py/linkedout/worker/server.py).
  const subprocess = execa(python, args, { env, reject: false, buffer: false, stdin: "ignore", stdout: "pipe", stderr: "pipe", cleanup: true, cwd: REPO_ROOT, detached: opts.detached ?? false });
  subprocess.catch(() => undefined); // exits are watched through the ChildProcess "exit" event
  // At runtime execa's subprocess IS a node ChildProcess (its typings hide the EventEmitter side).
  const proc = subprocess as unknown as ChildProcess;

  const logTail: string[] = [];
  const keep = (line: string, stream: "stdout" | "stderr") => {
    logTail.push(line);
    if (logTail.length > LOG_TAIL_LINES) logTail.shift();
    opts.onLog?.(line, stream);
  };
  createInterface({ input: proc.stderr! }).on("line", (l) => keep(l, "stderr"));
  const ready = new Promise<ReadyLine>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new WorkerError("StartTimeout", `worker on ${device} did not become ready in ${opts.startTimeoutS} s\n${logTail.join("\n")}`)),
      opts.startTimeoutS * 1000,
    );
    createInterface({ input: proc.stdout! }).on("line", (l) => {
      if (!l.startsWith(READY_PREFIX)) return keep(l, "stdout");
      clearTimeout(timer);
      try {
        resolve(JSON.parse(l.slice(READY_PREFIX.length)) as ReadyLine);
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
      const exit = describeExit(code, signal);
      reject(new WorkerError(signal ? "StartKilled" : "StartFailed", opts.describeStartExit
        ? opts.describeStartExit(exit, logTail)
        : `worker on ${device} ${exit} before it was ready (${python} -m linkedout.worker)\n${logTail.join("\n")}`));
    });
  });
  try {
    const line = await ready;
    return { proc, endpoint: line.endpoint, privateDir, logTail, ready: line };
  } catch (err) {
    proc.kill("SIGKILL");
    if (privateDir) rmSync(privateDir, { recursive: true, force: true });
    throw err;
  }
}
