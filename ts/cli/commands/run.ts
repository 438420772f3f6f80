import type { Argv } from "yargs";
import { CliError, type CliCommand } from "../command.js";
import { EXIT } from "../errors.js";

interface RunArgs {
  path: string;
  set: string[];
  force: string[];
  json: boolean;
  strict: boolean;
  verifyCache: boolean;
}

// Stage names for --force, written out so `--help` does not load the pipeline; run.test.ts checks them against pipelineStages().
export const FORCE_CHOICES = ["data", "split", "extract", "train", "embed", "pop-rank", "rank", "metrics", "report", "all"] as const;

/** `lo-exp run CONFIG|EXPERIMENT [--set a.b=v] [--force STAGE] [--strict] [--json]` */
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
        describe: `recompute a stage and everything after it (${FORCE_CHOICES.join(", ")})`,
      })
      .option("strict", {
        type: "boolean",
        default: false,
        describe: "exit with code 3 if any item failed (e.g. an undecodable video); same as --set strict=true",
      })
      .option("verify-cache", {
        type: "boolean",
        default: false,
        describe: "check the sha256 of every cached output file before reusing it (a damaged entry is recomputed)",
      })
      .option("json", { type: "boolean", default: false, describe: "machine-readable NDJSON log on stdout" }) as unknown as Argv<RunArgs>,
  handler: async (args) => {
    const { pipelineStages } = await import("../../schedule/pipeline.js");
    const stages = [...pipelineStages().map((s) => s.name), "all"];
    for (const f of args.force) if (!stages.includes(f)) throw new CliError(`--force ${f}: no such stage (stages: ${stages.join(", ")})`);
    const { runPath } = await import("../../schedule/run.js");
    const ac = new AbortController();
    let interrupts = 0;
    const onSigint = () => {
      interrupts++;
      if (interrupts > 1) process.exit(EXIT.interrupted);
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
        strict: args.strict,
        verifyCache: args.verifyCache,
        signal: ac.signal,
        commandLine: ["lo-exp", ...process.argv.slice(2)],
      });
    } catch (err) {
      if (ac.signal.aborted) throw new CliError("interrupted; partial work is kept, rerun to resume", EXIT.interrupted);
      throw err; // ts/cli/errors.ts turns StageError, PreflightError, FailedItemsError, ConfigError into one-line messages
    } finally {
      process.off("SIGINT", onSigint);
      process.off("SIGTERM", onSigint);
    }
  },
};
