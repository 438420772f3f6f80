// The folders a worker needs before it can start: its private scratch folder under the temporary
// folder (TMPDIR) and, for shared-memory frames, /dev/shm. Checked before any work starts so the
// message names the setting to fix, not the mkdtemp that failed.
import { accessSync, constants, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { shmRoot } from "./shm.js";

function dirProblem(dir: string): string | null {
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    return `${dir} does not exist`;
  }
  if (!isDir) return `${dir} is not a directory`;
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch {
    return `${dir} is not writable`;
  }
  return null;
}

/** Problems with the workers' scratch folders, one line each naming the setting (empty: fine). */
export function scratchDirProblems(env: NodeJS.ProcessEnv = process.env): string[] {
  const problems: string[] = [];
  const tmp = tmpdir();
  const why = dirProblem(tmp);
  if (why) {
    problems.push(
      env.TMPDIR
        ? `TMPDIR=${env.TMPDIR}: ${why} (workers make their private scratch folders there; set TMPDIR to an existing writable folder, or unset it)`
        : `${tmp} (the temporary folder; TMPDIR is not set): ${why} (workers make their private scratch folders there; set TMPDIR to a writable folder)`,
    );
  }
  const shm = shmRoot();
  const shmWhy = shm ? dirProblem(shm) : null;
  if (shm && shmWhy) problems.push(`${shm}: ${shmWhy} (workers pass large frames through shared memory there; fix its permissions)`);
  return problems;
}
