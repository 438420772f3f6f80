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
  seeds?: string;
}

/** `--seeds 0,1,2` → [0, 1, 2]; one clear line for anything else. */
export function parseSeeds(text: string): number[] {
  const parts = text.split(",").map((p) => p.trim());
  const seeds = parts.map(Number);
  const bad = parts.find((p, i) => p === "" || !Number.isInteger(seeds[i]) || seeds[i]! < 0 || seeds[i]! > 4294967295);
  if (bad !== undefined) throw new CliError(`--seeds ${text}: '${bad}' is not a seed (comma-separated integers 0..4294967295, e.g. --seeds 0,1,2)`);
  if (new Set(seeds).size !== seeds.length) throw new CliError(`--seeds ${text}: a seed is listed twice`);
  return seeds;
}

// Stage names for --force, written out so `--help` does not load the pipeline; run.test.ts checks them against pipelineStages().
export const FORCE_CHOICES = ["data", "split", "extract", "train", "embed", "pop-rank", "rank", "metrics", "report", "all"] as const;

/** `lo-exp run CONFIG|EXPERIMENT [--set a.b=v] [--seeds 0,1,2] [--force STAGE] [--strict] [--json]` */
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
      .option("seeds", {
        type: "string",
        describe: "run each config once per training seed (train.seed), e.g. 0,1,2; data, split and extraction are shared (overrides a table's `seeds`)",
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
    const seeds = args.seeds === undefined ? undefined : parseSeeds(args.seeds);
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
        ...(seeds ? { seeds } : {}),
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
