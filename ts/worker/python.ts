import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { WorkerError } from "./errors.js";

/** The repository root (this file is ts/worker/python.ts). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The Python that runs workers: $LINKEDOUT_PYTHON, else <repo>/.venv/bin/python. The user never activates anything. */
export function findPython(): string {
  const fromEnv = process.env.LINKEDOUT_PYTHON;
  if (fromEnv) return fromEnv;
  return path.join(REPO_ROOT, ".venv", "bin", "python");
}

/** Whether the Python environment exists; with the fix when it does not. */
export function pythonProblem(python = findPython()): string | null {
  if (existsSync(python)) return null;
  return process.env.LINKEDOUT_PYTHON
    ? `LINKEDOUT_PYTHON=${python} does not exist; unset it or point it at a Python with the worker installed`
    : `no Python environment at ${python}; run \`npm run setup\` (creates .venv from requirements.txt)`;
}

/**
 * The CUDA_VISIBLE_DEVICES value that gives a process this job's GPUs `indices` (`cuda:N` counts N
 * within this job's GPUs). SLURM, Kubernetes and Ray hand a job its GPUs as an inherited
 * CUDA_VISIBLE_DEVICES list (indices or UUIDs): GPU N is the list's N-th entry, never physical GPU N,
 * which may belong to another job. With none inherited, N is the host's GPU N. Throws
 * WorkerError("DeviceInvalid") for an index the inherited list does not have.
 */
export function visibleDevices(indices: readonly number[], inherited: string | undefined = process.env.CUDA_VISIBLE_DEVICES): string {
  if (inherited === undefined) return indices.join(",");
  const entries = inherited.split(",").map((e) => e.trim()).filter((e) => e !== "");
  const hidden = entries.length === 0 || entries[0] === "-1" || entries[0]!.toLowerCase() === "nodevfiles";
  const out = indices.map((i) => {
    const entry = hidden ? undefined : entries[i];
    if (entry === undefined) {
      const has = hidden ? "no GPU" : `${entries.length} GPU(s), cuda:0..cuda:${entries.length - 1}`;
      throw new WorkerError("DeviceInvalid", `cuda:${i}: the inherited CUDA_VISIBLE_DEVICES=${JSON.stringify(inherited)} gives this job ${has}`);
    }
    return entry;
  });
  return out.join(",");
}

/**
 * How a worker process is launched for `device` ("cpu" or "cuda:N"): its environment (PYTHONPATH, CPU
 * thread pins, offline hub, the GPU pinned with CUDA_VISIBLE_DEVICES: this job's GPU N, see
 * visibleDevices) and the --device it is given (`cuda:0`: the only GPU it sees). Null for a device name
 * that is neither; throws WorkerError("DeviceInvalid") for a GPU this job does not have.
 */
export function workerLaunch(
  device: string,
  threads: number,
  inherited: string | undefined = process.env.CUDA_VISIBLE_DEVICES,
): { env: Record<string, string>; deviceArg: string } | null {
  const cuda = /^cuda(?::(\d+))?$/.exec(device);
  if (!cuda && device !== "cpu") return null;
  return {
    env: {
      PYTHONPATH: [path.join(REPO_ROOT, "py"), process.env.PYTHONPATH].filter(Boolean).join(path.delimiter),
      PYTHONUNBUFFERED: "1",
      OMP_NUM_THREADS: String(threads),
      MKL_NUM_THREADS: String(threads),
      OPENBLAS_NUM_THREADS: String(threads),
      HF_HUB_OFFLINE: "1",
      CUDA_VISIBLE_DEVICES: cuda ? visibleDevices([Number(cuda[1] ?? "0")], inherited) : "",
    },
    deviceArg: cuda ? "cuda:0" : "cpu",
  };
}
