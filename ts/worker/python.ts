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
