import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

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
 * How a worker process is launched for `device` ("cpu" or "cuda:N"): its environment (PYTHONPATH, CPU
 * thread pins, offline hub, the GPU pinned with CUDA_VISIBLE_DEVICES=N) and the --device it is given
 * (`cuda:0`: the only GPU it sees). Null for a device name that is neither.
 */
export function workerLaunch(device: string, threads: number): { env: Record<string, string>; deviceArg: string } | null {
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
      CUDA_VISIBLE_DEVICES: cuda ? (cuda[1] ?? "0") : "",
    },
    deviceArg: cuda ? "cuda:0" : "cpu",
  };
}
