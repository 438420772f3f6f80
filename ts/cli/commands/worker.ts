import type { Argv } from "yargs";
import { CliError, type CliCommand } from "../command.js";
import type { KeyRole } from "../../worker/index.js";

interface WorkerArgs {
  bind?: string;
  keys?: string;
  device: string;
  threads: number;
  heartbeatS: number;
}

interface KeygenArgs {
  out: string;
  role: KeyRole;
}

const keygenCommand = {
  command: "keygen",
  describe: "Write a CURVE keypair: --role server (a worker's server.key, server.key_secret, clients/) or client (an orchestrator's client.key, client.key_secret)",
  builder: (y: Argv) =>
    y
      .option("out", { type: "string", demandOption: true, describe: "directory to write the key files into (created 0700; existing keys are never overwritten)" })
      .option("role", { choices: ["server", "client"] as const, default: "server" as KeyRole, describe: "server: for `lo-exp worker --keys`; client: for workers.remote[].client_keys" }) as unknown as Argv<KeygenArgs>,
  handler: async (args: KeygenArgs) => {
    const { generateKeys, WorkerError } = await import("../../worker/index.js");
    const r = cliErrors(() => generateKeys({ out: args.out, role: args.role }), WorkerError);
    console.log(`lo-exp worker keygen: ${r.role} public key ${r.publicKey}`);
    console.log(`  public: ${r.publicFile}\n  secret: ${r.secretFile} (0600, keep it on this host)`);
    if (r.role === "server") console.log(`  copy each client's client.key into ${r.clientsDir}/; give ${r.publicFile} to the clients`);
    else console.log(`  copy ${r.publicFile} into the worker's clients/ directory; point workers.remote[].client_keys at ${r.secretFile}`);
  },
};

function cliErrors<T>(f: () => T, workerError: abstract new (...args: never[]) => Error): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof workerError) throw new CliError(err.message);
    throw err;
  }
}

/**
 * `lo-exp worker --bind tcp://HOST:PORT --keys DIR [--device cuda:N] [--threads N]`: serve one worker to
 * other hosts over CURVE until Ctrl-C; `lo-exp worker keygen --role server|client --out DIR`: its keys.
 */
export const workerCommand: CliCommand<WorkerArgs> = {
  command: "worker",
  describe: "Run a worker that orchestrators on other hosts reach over ZeroMQ with CURVE (workers.remote); `worker keygen` writes keys",
  builder: (y: Argv) =>
    y
      .command(keygenCommand)
      .option("bind", { type: "string", describe: "tcp://HOST:PORT to listen on (a non-loopback address needs --keys)" })
      .option("keys", { type: "string", describe: "CURVE key directory: server.key_secret and clients/*.key (from `lo-exp worker keygen --role server`)" })
      .option("device", { type: "string", default: "cpu", describe: "cpu or cuda:N (pinned with CUDA_VISIBLE_DEVICES)" })
      .option("threads", { type: "number", default: 1, describe: "torch CPU threads" })
      .option("heartbeat-s", { type: "number", default: 1, describe: "seconds between heartbeats to connected clients" }) as unknown as Argv<WorkerArgs>,
  handler: async (args) => {
    if (!args.bind) throw new CliError("worker: --bind tcp://HOST:PORT is required (or use `lo-exp worker keygen`)");
    const { serveWorker, WorkerError } = await import("../../worker/index.js");
    let served;
    let ready = false; // before it is ready, the worker's last line is in the error
    try {
      served = await serveWorker({
        bind: args.bind, keys: args.keys, device: args.device, threads: args.threads, heartbeatS: args.heartbeatS,
        onLog: (line) => ready && console.error(line),
      });
      ready = true;
    } catch (err) {
      if (err instanceof WorkerError) throw new CliError(`worker: ${err.message}`);
      throw err;
    }
    const how = served.serverPublicKey ? `CURVE, ${served.clients} authorised client key(s), server public key ${served.serverPublicKey}` : "no CURVE: this host only";
    console.log(`lo-exp worker: pid ${served.pid} on ${args.device} serving ${served.endpoint} (${how}); Ctrl-C stops`);
    let stopping = false;
    const stop = () => {
      stopping = true;
      void served.stop();
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    const { code, signal } = await served.exited;
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    if (stopping) return void console.log("lo-exp worker: stopped");
    throw new CliError(`worker: pid ${served.pid} ${signal ? `was killed by ${signal}` : `exited with code ${code}`}`);
  },
};
