import { readFileSync } from "node:fs";
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import type { CliCommand } from "./command.js";
import { benchCommand } from "./commands/bench.js";
import { compareCommand } from "./commands/compare.js";
import { configCommand } from "./commands/config.js";
import { dataCommand } from "./commands/data.js";
import { doctorCommand } from "./commands/doctor.js";
import { extractCommand } from "./commands/extract.js";
import { modelCommand } from "./commands/model.js";
import { runCommand } from "./commands/run.js";
import { serveCommand } from "./commands/serve.js";
import { addItemsCommand } from "./commands/add-items.js";
import { workerCommand } from "./commands/worker.js";
import { EXIT, reportError } from "./errors.js";

// The explicit list of verbs. Adding a verb = one import + one entry here. Verb modules import their
// library code inside the handler, so `--help` and light verbs do not pay for zeromq, arrow or execa.
const commands: CliCommand<any>[] = [benchCommand, compareCommand, configCommand, dataCommand, doctorCommand, extractCommand, modelCommand, runCommand, serveCommand, addItemsCommand, workerCommand];

/** package.json's version (this file is ts/cli/main.ts or its compiled dist/cli/main.js: both two levels down). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: string };
  return pkg.version ?? "unknown";
}

export function buildCli(argv: string[]) {
  let cli = yargs(argv)
    .scriptName("lo-exp")
    .usage("$0 <command> [options]\n\nLinkedOut experiments: extract, train, evaluate and serve.")
    .strict()
    .demandCommand(1, "Name a command; `lo-exp --help` lists them.")
    .recommendCommands()
    .help()
    .alias("h", "help")
    .version(packageVersion())
    .option("debug", { type: "boolean", default: false, global: true, describe: "show stack traces with errors" })
    .wrap(Math.min(110, process.stdout.columns ?? 100))
    .fail((msg, err) => {
      if (err) throw err;
      console.error(msg);
      console.error("Run `lo-exp --help` for usage.");
      process.exit(EXIT.usage);
    });
  for (const c of commands) {
    cli = cli.command(c.command, c.describe, c.builder, c.handler);
  }
  return cli;
}

/**
 * A reader that goes away (`lo-exp run --json | head -n 1`) must not crash lo-exp half-way through a
 * stage: Node ignores SIGPIPE, so a write to the closed pipe emits an 'error' that, unhandled, kills the
 * process with a stack and leaves `<key>.lock` and `<key>.partial` behind. Every writer goes through
 * process.stdout/stderr, so one handler per stream covers them all: the stream is dropped and the command
 * finishes its work (results, cache, lock release) and exits with its own code. There is no one left to
 * tell about any other error on these streams either.
 */
export function survivePipeClose(): void {
  for (const stream of [process.stdout, process.stderr]) stream.on("error", () => stream.destroy());
}

export async function main(argv: string[]): Promise<void> {
  survivePipeClose();
  try {
    await buildCli(hideBin(["node", "lo-exp", ...argv])).parseAsync();
  } catch (err) {
    process.exitCode = reportError(err, argv.includes("--debug"));
  }
}
