import type { Argv, ArgumentsCamelCase } from "yargs";
import { ConfigError } from "../config/index.js";
import { DataError } from "../data/errors.js";
import { ServeError } from "../serve/errors.js";

/**
 * One CLI verb. Each lives in ts/cli/commands/<verb>.ts and stays a thin shell: it parses
 * arguments and calls a library function that tests call directly.
 */
export interface CliCommand<A = Record<string, unknown>> {
  command: string | string[];
  describe: string;
  builder: (yargs: Argv) => Argv<A>;
  handler: (args: ArgumentsCamelCase<A>) => Promise<void>;
}

/** A user-facing failure: printed as one line, without a stack trace, exit code 1 (or `exitCode`). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = "CliError";
  }
}

/**
 * A failure the user can fix, as the CLI shows it: one line (no stack trace) and the exit code.
 * Library errors are plain typed errors of their module; this is the one place that maps them.
 */
export function userFailure(err: unknown): { message: string; exitCode: number } | undefined {
  if (err instanceof CliError) return { message: err.message, exitCode: err.exitCode };
  if (err instanceof ConfigError || err instanceof DataError || err instanceof ServeError) return { message: err.message, exitCode: 1 };
  return undefined;
}
