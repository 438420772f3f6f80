import type { Argv } from "yargs";
import type { CliCommand } from "../command.js";

interface CompareArgs {
  a: string;
  b: string;
  slice: string[];
  json: boolean;
}

const SLICES = ["overall", "cold", "longtail"] as const;

/** `lo-exp compare RESULTS_A RESULTS_B [--slice cold] [--json]` */
export const compareCommand: CliCommand<CompareArgs> = {
  command: "compare <a> <b>",
  describe: "Compare two runs on the same test users: difference, paired 95 % interval and p-value per split, slice and metric",
  builder: (y: Argv) =>
    y
      .positional("a", { type: "string", describe: "results folder of run A (results/<run>/; with seed-<s>/ folders: all its seeds)", demandOption: true })
      .positional("b", { type: "string", describe: "results folder of run B", demandOption: true })
      .option("slice", { type: "string", array: true, choices: SLICES, default: [] as string[], describe: "only these target slices (default all)" })
      .option("json", { type: "boolean", default: false, describe: "a JSON array of rows on stdout" }) as unknown as Argv<CompareArgs>,
  handler: async (args) => {
    const { compareResults, formatComparison } = await import("../../schedule/compare.js");
    const slices = SLICES.filter((s) => args.slice.length === 0 || args.slice.includes(s));
    const res = compareResults(args.a, args.b, { slices });
    process.stdout.write(args.json ? `${JSON.stringify(res.rows, null, 2)}\n` : `${formatComparison(res)}\n`);
  },
};
