import { join } from "node:path";
import type { Argv } from "yargs";
import { CliError, type CliCommand } from "../command.js";

interface ExtractArgs {
  config: string;
  set: string[];
  force: boolean;
  retryFailed: boolean;
  json: boolean;
  engine?: "workers" | "ray";
  address?: string;
}

/** `lo-exp extract CONFIG [--set a.b=v] [--force] [--retry-failed] [--engine workers|ray [--address auto]] [--json]` */
export const extractCommand: CliCommand<ExtractArgs> = {
  command: "extract <config>",
  describe: "Extract video-LLM tokens (old + new, every k-th layer) for the config's catalogue into a TokenStore; cached, resumable",
  builder: (y: Argv) =>
    y
      .positional("config", { type: "string", describe: "experiment YAML", demandOption: true })
      .option("set", { type: "string", array: true, default: [] as string[], describe: "override a config key: --set extract.frames=16" })
      .option("force", { type: "boolean", default: false, describe: "re-extract even if the store is cached" })
      .option("retry-failed", { type: "boolean", default: false, describe: "re-attempt the items recorded as failed (bad videos)" })
      .option("engine", { choices: ["workers", "ray"] as const, describe: "who runs the shards: linkedout's worker pool, or Ray tasks (= --set extract.engine=…; docs/cluster.md)" })
      .option("address", { type: "string", describe: "Ray cluster to join: auto or ray://HOST:PORT; omitted = a private local one (= --set extract.ray.address=…)" })
      .option("json", { type: "boolean", default: false, describe: "NDJSON progress events on stdout" }) as unknown as Argv<ExtractArgs>,
  handler: async (args) => {
    const { runExtractStages } = await import("../../schedule/extract-run.js");
    const { MANIFEST_FILE } = await import("../../schedule/tokenstore-files.js");
    const { StageError } = await import("../../schedule/graph.js");
    const ac = new AbortController();
    const onSigint = () => {
      process.stderr.write("\ninterrupted: stopping workers; rerun the same command to resume\n");
      ac.abort(new Error("interrupted"));
    };
    process.on("SIGINT", onSigint);
    try {
      const sets = [...args.set];
      if (args.engine !== undefined) sets.push(`extract.engine=${args.engine}`);
      if (args.address !== undefined) {
        if ((args.engine ?? "ray") !== "ray") throw new CliError("--address: only with --engine ray");
        sets.push(`extract.engine=ray`, `extract.ray.address=${args.address}`);
      }
      const r = await runExtractStages(args.config, { sets, force: args.force, retryFailed: args.retryFailed, json: args.json, signal: ac.signal });
      const failed = Number(r.meta.failed ?? 0);
      const line = { event: "extract_done", store: r.store, key: r.key, cached: r.cached, ...r.meta };
      process.stdout.write(
        args.json
          ? `${JSON.stringify(line)}\n`
          : `TokenStore ${r.store}${r.cached ? " (cached)" : ""}: ${String(r.meta.items)} items, ${failed} failed` +
              (failed ? ` (listed with reasons in ${join(r.store, MANIFEST_FILE)}; --retry-failed re-attempts them)` : "") + "\n",
      );
    } catch (err) {
      if (ac.signal.aborted) throw new CliError("interrupted; partial work is kept, rerun to resume", 130);
      if (err instanceof StageError) throw new CliError(err.message);
      if (err instanceof Error && !(err instanceof CliError) && err.message.startsWith("this config uses no video")) throw new CliError(err.message);
      throw err;
    } finally {
      process.off("SIGINT", onSigint);
    }
  },
};
