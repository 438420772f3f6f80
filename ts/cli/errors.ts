// The one place where errors become exit codes and one-line messages (docs/errors.md).
// Library modules throw their own typed errors; the CLI recognises a user mistake by a marker rather
// than by class, so a module's error needs no import from ts/cli: a numeric `exitCode`, `userFacing:
// true`, a `problems` list (one line each), or one of the known error names below.

/** Exit codes of `lo-exp` (docs/errors.md). */
export const EXIT = { ok: 0, error: 1, usage: 2, failedItems: 3, interrupted: 130 } as const;

/** Library errors that describe bad input, not a bug: their message is the whole story. */
const USER_ERROR_NAMES = new Set(["CliError", "ConfigError", "DataError", "PreflightError", "FailedItemsError", "ServeError", "StageError", "WorkerError"]);

export interface UserFacing {
  /** one or more lines, each complete on its own */
  lines: string[];
  exitCode: number;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null;
}

/** Operating-system failures on a named path (full disk, no permission, a file in the way): the environment, not a bug. */
const SYSTEM_ERROR_CODES = new Set(["ENOSPC", "EACCES", "EPERM", "ENOTDIR", "EISDIR", "EEXIST", "ENOENT", "EROFS", "EMFILE", "EDQUOT"]);

/** The lines and exit code to show for a user mistake, or null for an internal error (a bug). */
export function userFacingError(err: unknown): UserFacing | null {
  if (!(err instanceof Error) || !isRecord(err)) return null;
  if (typeof err.code === "string" && SYSTEM_ERROR_CODES.has(err.code) && typeof err.path === "string") {
    // Node's own message already reads "ENOSPC: no space left on device, write '<path>'"
    return { lines: [err.message.split("\n")[0]!], exitCode: EXIT.error };
  }
  const marked = typeof err.exitCode === "number" || err.userFacing === true || Array.isArray(err.problems) || USER_ERROR_NAMES.has(err.name);
  if (!marked) return null;
  const problems = Array.isArray(err.problems) ? err.problems.map(String) : null;
  const lines = problems && problems.length > 0 ? problems : err.message.split("\n").filter((l) => l.trim() !== "");
  return { lines, exitCode: typeof err.exitCode === "number" ? err.exitCode : EXIT.error };
}

/** Print an error as `lo-exp:` lines on stderr and return the exit code; stack traces only with `debug`. */
export function reportError(err: unknown, debug: boolean, write: (text: string) => void = (t) => process.stderr.write(t)): number {
  const user = userFacingError(err);
  if (user) {
    for (const line of user.lines) write(`lo-exp: ${line}\n`);
    if (debug && err instanceof Error && err.stack) write(`${stackWithCauses(err)}\n`);
    return user.exitCode;
  }
  const message = err instanceof Error ? err.message.split("\n")[0] : String(err);
  write(`lo-exp: internal error: ${message}\n`);
  if (debug) write(`${err instanceof Error ? stackWithCauses(err) : String(err)}\n`);
  else write("lo-exp: this is a bug in lo-exp; rerun with --debug for the stack trace and include it in a report\n");
  return EXIT.error;
}

function stackWithCauses(err: Error): string {
  const parts = [err.stack ?? String(err)];
  let cause: unknown = err.cause;
  for (let depth = 0; cause !== undefined && depth < 5; depth++) {
    parts.push(`caused by: ${cause instanceof Error ? (cause.stack ?? cause.message) : String(cause)}`);
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return parts.join("\n");
}
