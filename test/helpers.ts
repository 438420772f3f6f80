// Helpers every test file may use: where the repository is, and running the real CLI (`node bin/lo-exp.js`)
// as a user does. Room-specific helpers live beside their tests (test/worker/helpers.ts, test/serve/fixture.ts).
import { spawn, spawnSync, type ChildProcessByStdio, type SpawnOptionsWithStdioTuple, type StdioNull, type StdioPipe } from "node:child_process";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { REPO_ROOT } from "../ts/worker/python.js";

export { REPO_ROOT };

/** The CLI's entry point, as `npm ci` links it (node_modules/.bin/lo-exp). */
export const LO_EXP = join(REPO_ROOT, "bin", "lo-exp.js");

/** How a finished CLI process ended and what it printed. */
export interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

type Piped = ChildProcessByStdio<null, Readable, Readable>;

/** Start `lo-exp ARGS` with stdout and stderr piped (the caller reads them and waits for "exit"). */
export function spawnLoExp(args: readonly string[], opts: Omit<SpawnOptionsWithStdioTuple<StdioNull, StdioPipe, StdioPipe>, "stdio"> = {}): Piped {
  return spawn(process.execPath, [LO_EXP, ...args], { ...opts, stdio: ["ignore", "pipe", "pipe"] });
}

/**
 * Run `lo-exp ARGS` in `cwd` to its end. A child still running after `timeoutMs` is killed and the
 * promise rejects, so a hang fails the test instead of stalling the suite.
 */
export function loExp(args: readonly string[], cwd: string = REPO_ROOT, timeoutMs = 90_000): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawnLoExp(args, { cwd });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`lo-exp ${args.join(" ")}: still running after ${timeoutMs / 1000} s (hang)\n${stderr.slice(-2000)}`));
    }, timeoutMs);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** `loExp` for short commands, synchronously. */
export function loExpSync(args: readonly string[], cwd: string = REPO_ROOT, timeoutMs = 90_000): Ran {
  const r = spawnSync(process.execPath, [LO_EXP, ...args], { cwd, encoding: "utf8", timeout: timeoutMs });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}
