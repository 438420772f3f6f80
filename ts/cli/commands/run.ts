import type { Argv } from "yargs";
import { CliError, type CliCommand } from "../command.js";
import { runPath } from "../../schedule/run.js";
import { StageError } from "../../schedule/graph.js";
import { pipelineStages } from "../../schedule/pipeline.js";

interface RunArgs {
  path: string;
  set: string[];
  force: string[];
  json: boolean;
}

/** `lo-exp run CONFIG|EXPERIMENT [--set a.b=v] [--force STAGE] [--json]` */
export const runCommand: CliCommand<RunArgs> = {
  command: "run <path>",
  describe: "Run an experiment config (configs/*.yaml) or a table of them (experiments/*.yaml); cached, resumable",
  builder: (y: Argv) =>
    y
      .positional("path", { type: "string", describe: "config or experiment YAML", demandOption: true })
      .option("set", { type: "string", array: true, default: [] as string[], describe: "override a config key: --set a.b=value" })
      .option("force", {
        type: "string",
        array: true,
        default: [] as string[],
        describe: "recompute a stage and everything after it (data, split, extract, train, embed, pop-rank, rank, metrics, report, all)",
      })
      .option("json", { type: "boolean", default: false, describe: "machine-readable NDJSON log on stdout" }) as unknown as Argv<RunArgs>,
  handler: async (args) => {
    const stages = [...pipelineStages().map((s) => s.name), "all"];
    for (const f of args.force) if (!stages.includes(f)) throw new CliError(`--force ${f}: no such stage (stages: ${stages.join(", ")})`);
    const ac = new AbortController();
    let interrupts = 0;
    const onSigint = () => {
      interrupts++;
      if (interrupts > 1) process.exit(130);
      process.stderr.write("\ninterrupted: stopping workers; rerun the same command to resume\n");
      ac.abort(new Error("interrupted"));
    };
    process.on("SIGINT", onSigint);
    process.on("SIGTERM", onSigint);
    try {
      await runPath(args.path, {
        sets: args.set,
        force: args.force,
        json: args.json,
        signal: ac.signal,
        commandLine: ["lo-exp", ...process.argv.slice(2)],
      });
    } catch (err) {
      if (ac.signal.aborted) throw new CliError("interrupted; partial work is kept, rerun to resume", 130);
      if (err instanceof StageError) throw new CliError(err.message);
      throw err;
    } finally {
      process.off("SIGINT", onSigint);
      process.off("SIGTERM", onSigint);
    }
  },
};
