import type { Argv } from "yargs";
import { CliError, type CliCommand } from "../command.js";

interface ServeArgs {
  runDir: string;
  port?: number;
  maxK?: number;
  threads?: number;
  index?: "exact" | "ann" | "auto";
  tower?: "frozen" | "eager";
  buildIndex?: boolean;
}

/** `lo-exp serve RUN_DIR [--port P]`: the online ranking service (docs/serving.md) until Ctrl-C. */
export const serveCommand: CliCommand<ServeArgs> = {
  command: "serve <run-dir>",
  describe: "Serve top-K recommendations of a trained run over HTTP on 127.0.0.1 (POST /recommend, GET /health)",
  builder: (y: Argv) =>
    y
      .positional("run-dir", {
        type: "string",
        describe:
          "a trained run's results folder (results/<name>/ from `lo-exp run`: its stages.json points at the embed stage's EmbeddingStore in the cache, which must still be there), or a folder holding embeddings/store.json",
        demandOption: true,
      })
      .option("port", { type: "number", describe: "TCP port on 127.0.0.1 (default serve.port of the run's config, 8321; 0 = any free port)" })
      .option("max-k", { type: "number", describe: "largest k a request may ask for (default serve.max_k)" })
      .option("threads", { type: "number", describe: "torch threads of the ranking worker (default serve.threads)" })
      .option("index", { choices: ["exact", "ann", "auto"] as const, describe: "exact top-K, the ANN index, or auto (exact up to serve.ann.exact_up_to items); default serve.index" })
      .option("tower", { choices: ["frozen", "eager"] as const, describe: "run the user tower as a frozen TorchScript graph (served only if bit-for-bit equal to the module) or the module itself; default serve.tower" })
      .option("build-index", { type: "boolean", describe: "build (or rebuild) the ANN index beside the store, then exit" }) as unknown as Argv<ServeArgs>,
  handler: async (args) => {
    // Flags are checked against the serve schema before the ranking worker starts.
    const { configValueProblem } = await import("../../config/index.js");
    for (const [flag, key, value] of [["--port", "serve.port", args.port], ["--max-k", "serve.max_k", args.maxK], ["--threads", "serve.threads", args.threads]] as const) {
      const problem = value === undefined ? undefined : configValueProblem(key, value);
      if (problem) throw new CliError(`${flag} ${value}: ${key} ${problem}`);
    }
    const { startRankingService } = await import("../../serve/index.js");
    const overrides = {
      ...(args.port !== undefined ? { port: args.port } : {}),
      ...(args.maxK !== undefined ? { max_k: args.maxK } : {}),
      ...(args.threads !== undefined ? { threads: args.threads } : {}),
      ...(args.index !== undefined ? { index: args.index } : {}),
      ...(args.tower !== undefined ? { tower: args.tower } : {}),
    };
    if (args.buildIndex) {
      const { buildAnnIndex } = await import("../../serve/index.js");
      const r = await buildAnnIndex({ runDir: args.runDir, overrides });
      console.log(`lo-exp serve: ${r.note ?? `index ${r.index_dir} is current`} (${r.n_indexed} items)`);
      return;
    }
    const svc = await startRankingService({ runDir: args.runDir, overrides });
    const info = svc.backend.info;
    const how = info.index ? `ANN index ${info.index.engine}, ${info.index.n_indexed} indexed + ${info.index.n_delta} exact delta` : "exact top-K";
    console.log(`lo-exp serve: ${info.n_items} items (model ${info.model_version}, d_z ${info.d_z}; ${how}; user tower ${info.tower}) at ${svc.url}  — POST /recommend, GET /health; Ctrl-C stops`);
    await new Promise<void>((resolve) => {
      process.once("SIGINT", () => resolve());
      process.once("SIGTERM", () => resolve());
    });
    await svc.close();
    console.log("lo-exp serve: stopped");
  },
};
