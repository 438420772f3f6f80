import type { Argv } from "yargs";
import type { CliCommand } from "../command.js";

interface ConfigArgs {
  action: string;
  config: string;
  set: string[];
  sources: boolean;
  json: boolean;
}

/** `lo-exp config show CONFIG [--set a.b=v] [--sources] [--json]`: print the resolved config. */
export const configCommand: CliCommand<ConfigArgs> = {
  command: "config <action> <config>",
  describe: "Experiment configs: `config show CONFIG` prints the resolved config (defaults, extends, --set applied)",
  builder: (y: Argv) =>
    y
      .positional("action", { choices: ["show"] as const, describe: "what to do", demandOption: true })
      .positional("config", { type: "string", describe: "experiment YAML file", demandOption: true })
      .option("set", { type: "string", array: true, default: [] as string[], describe: "override a key: --set a.b=value" })
      .option("sources", { type: "boolean", default: false, describe: "annotate every value with where it came from" })
      .option("json", { type: "boolean", default: false, describe: "print JSON instead of YAML" }) as unknown as Argv<ConfigArgs>,
  handler: async (args) => {
    const { showConfig } = await import("../../config/show.js");
    const onPathProblem = (line: string) => console.error(`lo-exp: note: ${line} (shown anyway; \`lo-exp run\` stops here)`);
    process.stdout.write(await showConfig(args.config, { sets: args.set, sources: args.sources, json: args.json, onPathProblem }));
  },
};
