/**
 * `lo-exp worker --bind tcp://HOST:PORT --keys DIR`: run one worker that other hosts' orchestrators reach
 * over ZeroMQ with CURVE (connectWorker, `workers.remote` in a config). The Python worker enforces the
 * rule: a non-loopback address is bound only with CURVE keys (py/linkedout/worker/__main__.py).
 */
import { once } from "node:events";
import { spawnWorkerProcess } from "./supervisor.js";

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

/** Start the worker process and resolve once it has bound its socket. */
export async function serveWorker(opts: ServeWorkerOptions): Promise<ServedWorker> {
  const { proc, ready } = await spawnWorkerProcess({
    endpoint: opts.bind,
    keys: opts.keys,
    device: opts.device ?? "cpu",
    threads: opts.threads ?? 1,
    heartbeatS: opts.heartbeatS ?? 1,
    python: opts.python,
    startTimeoutS: opts.startTimeoutS ?? 120,
    detached: true,
    onLog: opts.onLog,
    describeStartExit: (exit, tail) => {
      // the worker's own message (e.g. "--bind tcp://0.0.0.0:…: without --keys …") is its last stderr line
      const why = tail.filter((l) => !l.startsWith("usage:") && !l.startsWith(" ")).at(-1) ?? "";
      return `the Python worker ${exit} before it bound ${opts.bind}${why ? `: ${why}` : ""}`;
    },
  });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    proc.once("exit", async (code, signal) => {
      // its last lines may still be in the pipes
      await Promise.race([Promise.all([once(proc.stdout!, "close"), once(proc.stderr!, "close")]), new Promise((r) => setTimeout(r, 1000))]);
      resolve({ code, signal });
    });
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
