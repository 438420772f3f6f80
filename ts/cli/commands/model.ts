import type { Argv } from "yargs";
import { CliError, type CliCommand } from "../command.js";

interface ModelArgs {
  action: string;
  out: string;
  hidden: number;
  layers: number;
  imageSize: number;
  seed: number;
  json: boolean;
}

/** `lo-exp model tiny --out DIR [--hidden H --layers L --image-size S --seed N]` */
export const modelCommand: CliCommand<ModelArgs> = {
  command: "model <action>",
  describe: "Backbones: `model tiny --out DIR` builds a tiny random LLaVA-OneVision (tokenizer, chat template, processor) loadable with from_pretrained",
  builder: (y: Argv) =>
    y
      .positional("action", { choices: ["tiny"] as const, describe: "what to build", demandOption: true })
      .option("out", { type: "string", demandOption: true, describe: "directory to write (save_pretrained)" })
      .option("hidden", { type: "number", default: 64, describe: "language model hidden size (multiple of 4)" })
      .option("layers", { type: "number", default: 8, describe: "language model decoder layers" })
      .option("image-size", { type: "number", default: 32, describe: "frame side in pixels (multiple of the 8-pixel patch)" })
      .option("seed", { type: "number", default: 0, describe: "seed of the random weights" })
      .option("json", { type: "boolean", default: false, describe: "print the summary as JSON" }) as unknown as Argv<ModelArgs>,
  handler: async (args) => {
    const { buildTinyModel } = await import("../../schedule/tiny-model.js");
    const { WorkerError } = await import("../../worker/index.js");
    try {
      const s = await buildTinyModel(args.out, { hidden: args.hidden, layers: args.layers, image_size: args.imageSize, seed: args.seed });
      process.stdout.write(
        args.json
          ? `${JSON.stringify(s, null, 2)}\n`
          : `tiny LLaVA-OneVision in ${s.path}: ${s.parameters.toLocaleString("en")} parameters, ${s.layers} layers × ${s.hidden}, ` +
              `${s.image_size}px frames → ${s.tokens_per_frame} video tokens per frame, vocab ${s.vocab}, seed ${s.seed}\n` +
              `use it with: --set model.path=${s.path}\n`,
      );
    } catch (err) {
      if (err instanceof WorkerError) throw new CliError(`model tiny: ${err.message.split("\n")[0]}`);
      throw err;
    }
  },
};
