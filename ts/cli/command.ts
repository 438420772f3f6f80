import type { Argv, ArgumentsCamelCase } from "yargs";

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
