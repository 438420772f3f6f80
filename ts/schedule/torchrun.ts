// Training on several devices: `torchrun --standalone --nproc_per_node N -m linkedout.train --spec spec.json`
// (DDP; py/linkedout/train/__main__.py). Rank 0 prints one JSON line per epoch ({"epoch", "epochs", ...})
// and the run summary last. Used by the train stage when `workers.devices` lists several GPUs.
//
// torchrun leads its own process group, whose id is written to <dir>/torchrun.pid: if the orchestrator
// is killed (SIGKILL) the group may outlive it, so the next attempt on the same folder stops that group
// before it resumes from the checkpoint — two trainers never write one folder.
import { existsSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { execa } from "execa";
import { findPython } from "../worker/index.js";
import { visibleDevices } from "../worker/python.js";
import { writeFileAtomic } from "../util/fs.js";
import type { ProgressUpdate } from "./progress.js";

export interface TorchrunOptions {
  /** the run folder (spec, checkpoints and logs go here) */
  dir: string;
  /** the training spec (linkedout.train.spec.TrainSpec as JSON); `device` is set from `devices` */
  spec: Record<string, unknown>;
  /** ["cuda:0", "cuda:1", ...], one process each; ["cpu", "cpu"] runs CPU processes over gloo (tests) */
  devices: readonly string[];
  /** torch threads per process */
  threads: number;
  progress: (p: ProgressUpdate) => void;
  signal: AbortSignal;
}

/** "cuda:N" (or "cuda") -> N; anything else is a configuration mistake the config checks catch first. */
function cudaIndex(device: string): number {
  const m = /^cuda(?::(\d+))?$/.exec(device);
  if (!m) throw new Error(`workers.devices: ${JSON.stringify(device)} is not "cpu" or "cuda:N"`);
  return Number(m[1] ?? "0");
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stop a torchrun group left behind by a killed orchestrator (its pid file is in `dir`). */
export async function stopLeftoverTorchrun(dir: string): Promise<number | null> {
  const pidFile = join(dir, "torchrun.pid");
  if (!existsSync(pidFile)) return null;
  const pgid = Number(readFileSync(pidFile, "utf8").trim());
  rmSync(pidFile, { force: true });
  if (!Number.isInteger(pgid) || pgid <= 1 || !alive(pgid)) return null;
  try {
    process.kill(-pgid, "SIGTERM");
  } catch {
    return null;
  }
  for (let i = 0; i < 100 && alive(pgid); i++) await sleep(100);
  if (alive(pgid)) process.kill(-pgid, "SIGKILL");
  return pgid;
}

/** The environment torchrun adds to ours: thread pins and, on GPUs, this job's GPUs `devices` (an
 * inherited CUDA_VISIBLE_DEVICES from SLURM or Kubernetes is mapped through, not replaced). */
export function torchrunEnv(devices: readonly string[], threads: number, inherited: string | undefined = process.env.CUDA_VISIBLE_DEVICES): Record<string, string> {
  const env: Record<string, string> = { OMP_NUM_THREADS: String(threads) };
  if (!devices.every((d) => d === "cpu")) env.CUDA_VISIBLE_DEVICES = visibleDevices(devices.map(cudaIndex), inherited);
  return env;
}

export async function trainWithTorchrun(opts: TorchrunOptions): Promise<Record<string, unknown>> {
  const { dir, devices } = opts;
  await stopLeftoverTorchrun(dir);
  const onCpu = devices.every((d) => d === "cpu");
  const specPath = join(dir, "train-spec.json");
  writeFileAtomic(specPath, `${JSON.stringify({ ...opts.spec, device: onCpu ? "cpu" : "cuda" }, null, 2)}\n`);
  const torchrun = join(dirname(findPython()), "torchrun");
  const args = ["--standalone", `--nproc_per_node=${devices.length}`, "-m", "linkedout.train", "--spec", specPath, "--threads", String(opts.threads)];
  if (onCpu) args.push("--device", "cpu");
  const env = torchrunEnv(devices, opts.threads);
  const child = execa(torchrun, args, { env, cancelSignal: opts.signal, reject: false, detached: true, buffer: false });
  if (child.pid !== undefined) writeFileAtomic(join(dir, "torchrun.pid"), `${child.pid}\n`);
  let last: Record<string, unknown> = {};
  let pending = "";
  let tail = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    pending += chunk.toString();
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (!line.startsWith("{")) continue;
      try {
        const msg = JSON.parse(line) as Record<string, unknown>;
        if (typeof msg.epoch === "number" && typeof msg.epochs === "number")
          opts.progress({ done: msg.epoch, total: msg.epochs, unit: "epochs", message: typeof msg.message === "string" ? msg.message : "" });
        last = msg;
      } catch {
        // a line that only looks like JSON
      }
    }
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-4000);
  });
  const res = await child;
  rmSync(join(dir, "torchrun.pid"), { force: true });
  opts.signal.throwIfAborted();
  if (res.exitCode !== 0) {
    const why = tail.trim().split("\n").slice(-3).join(" | ");
    throw new Error(`torchrun on ${devices.join(", ")} exited with ${res.exitCode ?? res.signal}: ${why}`);
  }
  return last;
}
