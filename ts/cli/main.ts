import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { userFailure, type CliCommand } from "./command.js";
import { benchCommand } from "./commands/bench.js";
import { configCommand } from "./commands/config.js";
import { dataCommand } from "./commands/data.js";
import { doctorCommand } from "./commands/doctor.js";
import { extractCommand } from "./commands/extract.js";
import { modelCommand } from "./commands/model.js";
import { runCommand } from "./commands/run.js";
import { serveCommand } from "./commands/serve.js";
import { addItemsCommand } from "./commands/add-items.js";
import { workerCommand } from "./commands/worker.js";

// The explicit list of verbs. Adding a verb = one import + one entry here.
const commands: CliCommand<any>[] = [benchCommand, configCommand, dataCommand, doctorCommand, extractCommand, modelCommand, runCommand, serveCommand, addItemsCommand, workerCommand];

export function buildCli(argv: string[]) {
  let cli = yargs(argv)
    .scriptName("lo-exp")
    .usage("$0 <command> [options]\n\nLinkedOut experiments: extract, train, evaluate and serve.")
    .strict()
    .demandCommand(1, "Name a command; `lo-exp --help` lists them.")
    .recommendCommands()
    .help()
    .alias("h", "help")
    .version(false)
    .wrap(Math.min(110, process.stdout.columns ?? 100))
    .fail((msg, err) => {
      if (err) throw err;
      console.error(msg);
      console.error("Run `lo-exp --help` for usage.");
      process.exit(2);
    });
  for (const c of commands) {
    cli = cli.command(c.command, c.describe, c.builder, c.handler);
  }
  return cli;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildCli(hideBin(["node", "lo-exp", ...argv])).parseAsync();
  } catch (err) {
    const failure = userFailure(err);
    if (failure) {
      console.error(`lo-exp: ${failure.message}`);
      process.exitCode = failure.exitCode;
      return;
    }
    throw err;
  }
}
