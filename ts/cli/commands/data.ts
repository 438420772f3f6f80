import type { Argv } from "yargs";
import { CliError, type CliCommand } from "../command.js";
import type { BadRowPolicy, DuplicatePolicy, MissingVideoPolicy, SynthPreset, VideoCodec } from "../../data/index.js";
// synth.ts is light (no arrow); the rest is imported by the handler
import { SYNTH_DEFAULTS, SYNTH_PRESETS } from "../../data/synth.js";

interface DataArgs {
  action: "synth" | "stats" | "split";
  dir?: string;
  out?: string;
  variant: string;
  onBadRow: BadRowPolicy;
  onDuplicate: DuplicatePolicy;
  onMissingVideo: MissingVideoPolicy;
  json: boolean;
  preset: SynthPreset;
  users?: number;
  items?: number;
  topics?: number;
  seed: number;
  coldShare: number;
  codec: VideoCodec;
  videos: boolean;
  workers: number;
}

function progressLine(text: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r${text}`);
}

/**
 * `lo-exp data synth --out DIR [--preset P --users N --items M --seed S]`: write the synthetic dataset;
 * `lo-exp data stats DIR`: print the paper's Table 1 rows; `lo-exp data split DIR --out OUT`: apply the official protocol.
 */
export const dataCommand: CliCommand<DataArgs> = {
  command: "data <action> [dir]",
  describe: "Datasets: `data synth --out DIR` writes the synthetic MicroLens-format set; `data stats DIR` prints Table 1; `data split DIR --out OUT` writes the official split",
  builder: (y: Argv) =>
    y
      .positional("action", { choices: ["synth", "stats", "split"] as const, describe: "what to do", demandOption: true })
      .positional("dir", { type: "string", describe: "MicroLens-format dataset directory (stats, split)" })
      .option("out", { type: "string", describe: "output directory (synth: the dataset; split: the split files)" })
      .option("variant", { type: "string", default: "auto", describe: "MicroLens variant (50k, 100k, synth); auto = the only one present" })
      .option("on-bad-row", { choices: ["error", "skip"] as const, default: "error" as const, describe: "malformed pairs rows" })
      .option("on-duplicate", {
        choices: ["keep", "error", "skip"] as const,
        default: "keep" as const,
        describe: "a user's second .tsv line / a repeated .csv row: keep = as MicroLens's loader (the later line replaces)",
      })
      .option("on-missing-video", {
        choices: ["error", "skip", "keep"] as const,
        default: "error" as const,
        describe: "interacted items without a video (split only; stats counts them)",
      })
      .option("json", { type: "boolean", default: false, describe: "stats: print JSON" })
      .option("preset", { choices: Object.keys(SYNTH_PRESETS) as SynthPreset[], default: SYNTH_DEFAULTS.preset, describe: "synth: size preset" })
      .option("users", { type: "number", describe: "synth: number of users (overrides the preset)" })
      .option("items", { type: "number", describe: "synth: number of items (overrides the preset)" })
      .option("topics", { type: "number", describe: "synth: number of latent topics, 1..12 (overrides the preset)" })
      .option("seed", { type: "number", default: SYNTH_DEFAULTS.seed, describe: "synth: random seed (same seed, same bytes)" })
      .option("cold-share", { type: "number", default: SYNTH_DEFAULTS.coldShare, describe: "synth: share of items planted cold" })
      .option("codec", { choices: ["mpeg4", "libx264"] as const, default: SYNTH_DEFAULTS.codec, describe: "synth: video codec" })
      .option("videos", { type: "boolean", default: true, describe: "synth: render videos (--no-videos writes only the CSVs)" })
      .option("workers", { type: "number", default: 1, describe: "synth: Python workers rendering videos in parallel" }) as unknown as Argv<DataArgs>,
  handler: async (args) => {
    const { datasetStats, formatStats, splitDataset, synthesizeDataset, warningTotal } = await import("../../data/index.js");
    if (args.action === "synth") {
      const { WorkerPool } = await import("../../worker/index.js");
      if (!args.out) throw new CliError("data synth: --out DIR is required");
      const pool = args.videos ? await WorkerPool.start({ count: Math.max(1, args.workers), device: "cpu", threads: 1 }) : null;
      try {
        const r = await synthesizeDataset(
          {
            out: args.out,
            preset: args.preset,
            users: args.users,
            items: args.items,
            topics: args.topics,
            seed: args.seed,
            coldShare: args.coldShare,
            codec: args.codec,
            videos: args.videos,
            parallel: Math.max(1, args.workers),
          },
          pool,
          (p) => p.stage === "videos" && progressLine(`videos ${p.done}/${p.total}`),
        );
        if (process.stderr.isTTY && r.videos) process.stderr.write("\n");
        const c = r.counts;
        const v = r.videos ? `; videos rendered ${r.videos.rendered}, skipped ${r.videos.skipped} (${(r.videos.bytes / 1e6).toFixed(1)} MB)` : "; no videos";
        console.log(`${r.dir}: MicroLens-${r.variant}, ${c.users} users, ${c.items} items (${c.coldItems} cold, ${c.topics} topics), ${c.interactions} interactions${v}`);
      } finally {
        await pool?.close();
      }
      return;
    }
    if (!args.dir) throw new CliError(`data ${args.action}: name the dataset directory`);
    if (args.action === "stats") {
      const s = datasetStats(args.dir, { variant: args.variant, onBadRow: args.onBadRow, onDuplicate: args.onDuplicate });
      console.log(args.json ? JSON.stringify(s, null, 2) : formatStats(s));
      return;
    }
    if (!args.out) throw new CliError("data split: --out OUT is required");
    const { dataset, split, written } = splitDataset(args.dir, args.out, {
      variant: args.variant,
      onBadRow: args.onBadRow,
      onDuplicate: args.onDuplicate,
      onMissingVideo: args.onMissingVideo,
    });
    const c = split.counts;
    console.log(
      `${args.out}: ${c.usersKept} users (${c.usersDropped} dropped), ${c.itemsKept} items, ${c.trainSamples} training samples; wrote ${written.length} files`,
    );
    const n = warningTotal(dataset);
    if (n > 0) {
      const kinds = Object.entries(dataset.warningCounts).filter(([, k]) => k > 0);
      console.error(`warnings: ${n} (${kinds.map(([k, m]) => `${k} ${m}`).join(", ")})`);
      for (const w of dataset.warnings.slice(0, 5)) console.error(`  ${w.file}${w.line ? `:${w.line}` : ""}: ${w.message}`);
    }
  },
};
