/**
 * `lo-exp worker --bind tcp://HOST:PORT --keys DIR`: run one worker that other hosts' orchestrators reach
 * over ZeroMQ with CURVE (connectWorker, `workers.remote` in a config). The Python worker enforces the
 * rule: a non-loopback address is bound only with CURVE keys (py/linkedout/worker/__main__.py).
 */
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { execa } from "execa";
import { READY_PREFIX } from "./supervisor.js";
import { WorkerError } from "./errors.js";
import { findPython, pythonProblem, REPO_ROOT, workerLaunch } from "./python.js";

export interface ServeWorkerOptions {
  /** tcp://HOST:PORT (any address with `keys`; `*` as the port picks a free one), or ipc:// / tcp://127.0.0.1 without */
  bind: string;
  /** CURVE key directory: server.key_secret + clients/*.key (`lo-exp worker keygen --role server`) */
  keys?: string;
  /** "cpu" or "cuda:N" (pinned with CUDA_VISIBLE_DEVICES=N) */
  device?: string;
  threads?: number;
  heartbeatS?: number;
  python?: string;
  /** How long to wait for torch to import and the socket to bind. Default 120 s. */
  startTimeoutS?: number;
  /** Worker stdout/stderr lines (refused client keys, op errors). */
  onLog?: (line: string, stream: "stdout" | "stderr") => void;
}

export interface ServedWorker {
  /** the bound endpoint (with the real port when `*` was asked for) */
  endpoint: string;
  /** the worker's CURVE public key (Z85), null without keys */
  serverPublicKey: string | null;
  /** authorised client keys found in clients/ at startup */
  clients: number;
  pid: number;
  exited: Promise<{ code: number | null; signal: string | null }>;
  /** SIGTERM the worker (SIGKILL after `graceMs`) and wait for it. */
  stop(graceMs?: number): Promise<void>;
}

interface ReadyLine {
  endpoint: string;
  pid: number;
  curve?: { server_public_key: string; clients: number };
}

/** Start the worker process and resolve once it has bound its socket. */
export async function serveWorker(opts: ServeWorkerOptions): Promise<ServedWorker> {
  const python = opts.python ?? findPython();
  const problem = opts.python ? null : pythonProblem(python);
  if (problem) throw new WorkerError("PythonMissing", problem);
  const device = opts.device ?? "cpu";
  const threads = opts.threads ?? 1;
  const launch = workerLaunch(device, threads);
  if (!launch) throw new WorkerError("DeviceInvalid", `--device ${device}: use "cpu" or "cuda:N"`);
  const args = ["-m", "linkedout.worker", "--bind", opts.bind, "--device", launch.deviceArg, "--threads", String(threads),
    "--heartbeat-s", String(opts.heartbeatS ?? 1)];
  if (opts.keys !== undefined) args.push("--keys", opts.keys);
  // Its own process group: a terminal's Ctrl-C reaches only us, and we stop the worker cleanly.
  // If we die anyway, the worker notices it was re-parented and exits.
  const subprocess = execa(python, args, { env: launch.env, reject: false, buffer: false, stdin: "ignore", stdout: "pipe", stderr: "pipe", cwd: REPO_ROOT, detached: true, cleanup: true });
  subprocess.catch(() => undefined);
  const proc = subprocess as unknown as ChildProcess;
  const tail: string[] = [];
  const log = (line: string, stream: "stdout" | "stderr") => {
    tail.push(line);
    if (tail.length > 20) tail.shift();
    opts.onLog?.(line, stream);
  };
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    proc.once("exit", async (code, signal) => {
      // its last lines may still be in the pipes
      await Promise.race([Promise.all([once(proc.stdout!, "close"), once(proc.stderr!, "close")]), new Promise((r) => setTimeout(r, 1000))]);
      resolve({ code, signal });
    });
  });
  createInterface({ input: proc.stderr! }).on("line", (l) => log(l, "stderr"));
  const startTimeoutS = opts.startTimeoutS ?? 120;
  const ready = await new Promise<ReadyLine>((resolve, reject) => {
    const timer = setTimeout(() => reject(new WorkerError("StartTimeout", `worker did not bind ${opts.bind} within ${startTimeoutS} s\n${tail.join("\n")}`)), startTimeoutS * 1000);
    createInterface({ input: proc.stdout! }).on("line", (l) => {
      if (!l.startsWith(READY_PREFIX)) return log(l, "stdout");
      clearTimeout(timer);
      try {
        resolve(JSON.parse(l.slice(READY_PREFIX.length)) as ReadyLine);
      } catch {
        reject(new WorkerError("StartFailed", `worker printed an unreadable ready line: ${l}`));
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      // the worker's own message (e.g. "--bind tcp://0.0.0.0:…: without --keys …") is its last stderr line
      const why = tail.filter((l) => !l.startsWith("usage:") && !l.startsWith(" ")).at(-1) ?? "";
      reject(new WorkerError("StartFailed", `the Python worker ${signal ? `was killed by ${signal}` : `exited with code ${code}`} before it bound ${opts.bind}${why ? `: ${why}` : ""}`));
    });
  }).catch(async (err: unknown) => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
    await exited;
    throw err;
  });
  return {
    endpoint: ready.endpoint,
    serverPublicKey: ready.curve?.server_public_key ?? null,
    clients: ready.curve?.clients ?? 0,
    pid: ready.pid,
    exited,
    async stop(graceMs = 5000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return void (await exited);
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
