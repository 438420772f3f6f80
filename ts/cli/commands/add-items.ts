import type { Argv } from "yargs";
import { CliError, type CliCommand } from "../command.js";

interface AddItemsArgs {
  runDir: string;
  videos: string[];
  titles?: string;
  threads: number;
}

/** `lo-exp add-items RUN_DIR VIDEOS…`: cold-start onboarding without retraining (docs/serving.md). */
export const addItemsCommand: CliCommand<AddItemsArgs> = {
  command: "add-items <run-dir> <videos..>",
  describe: "Extract and embed new videos with a trained run's model and add them to its EmbeddingStore (no retraining)",
  builder: (y: Argv) =>
    y
      .positional("run-dir", { type: "string", describe: "a trained run's results folder (results/<name>/) or a folder holding embeddings/store.json, as for `lo-exp serve`", demandOption: true })
      .positional("videos", { type: "string", array: true, describe: "video files: PATH (item id = file name) or ITEM=PATH", demandOption: true })
      .option("titles", { type: "string", describe: "CSV item,title for the new items (the title side channel of the prompts)" })
      .option("threads", { type: "number", default: 1, describe: "torch threads of the worker" }) as unknown as Argv<AddItemsArgs>,
  handler: async (args) => {
    const { addItems } = await import("../../serve/add-items.js");
    // One redrawn line on a terminal; in a log or pipe, a plain line each time the count moves (no `\r`).
    const tty = process.stderr.isTTY === true;
    let lastDone = -1;
    const r = await addItems({
      runDir: args.runDir,
      videos: args.videos,
      titlesCsv: args.titles,
      threads: args.threads,
      onProgress: (p) => {
        const text = p.message || `${p.done}/${p.total ?? "?"} ${p.unit}`;
        if (tty) process.stderr.write(`\r${text}`.padEnd(60));
        else if (p.done !== lastDone) process.stderr.write(`${text}\n`);
        lastDone = p.done;
      },
    });
    if (tty) process.stderr.write("\n");
    for (const f of r.failed) console.error(`lo-exp add-items: ${f.item}: not added (${f.reason})`);
    console.log(`added ${r.added.length} item(s) to the EmbeddingStore (model ${r.model_version}); catalogue now ${r.n_items} items`);
    if (r.added.length === 0) throw new CliError("add-items: no video could be added");
  },
};
