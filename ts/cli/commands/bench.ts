import { writeFileSync } from "node:fs";
import path from "node:path";
import type { Argv } from "yargs";
import { CliError, type CliCommand } from "../command.js";
import type { BenchReport } from "../../bench/report.js";
import { writeFileAtomic } from "../../util/fs.js";

interface BenchRunOptions {
  quick: boolean;
  /** scale: users, items, videos rendered and extracted */
  users?: number;
  items?: number;
  content: boolean;
  /** scale: --set overrides for the pipeline's config */
  sets: string[];
  /** run on cuda:0 where the bench has a GPU path (extract) */
  gpu: boolean;
  /** bench gpu: the same code paths at toy sizes on the CPU */
  tiny: boolean;
  log: (line: string) => void;
}
interface BenchEntry {
  describe: string;
  run: (o: BenchRunOptions) => Promise<BenchReport>;
}

// The explicit list of benchmarks. Adding one = one entry here calling its library function.
const BENCHES: Record<string, BenchEntry> = {
  transport: {
    describe: "ZeroMQ+Arrow round trip at 1/16/128 MB vs memcpy, small-message p50/p99, pythonia at 16 MB",
    run: async (o) =>
      (await import("../../bench/transport.js")).runTransportBench({ log: o.log, ...(o.quick ? { sizesMb: [1, 16], repeats: 3, smallCalls: 200 } : {}) }),
  },
  train: {
    describe: "training sequences/s of the default model (quick-start and 7B TokenStore shapes), CPU",
    run: async (o) => (await import("../../bench/train.js")).runTrainBench(o),
  },
  extract: {
    describe: "hooks vs plain generate (hook_overhead), items/s, memory: tiny model on CPU; --gpu: 7B configuration, random bf16 weights",
    run: async (o) => (await import("../../bench/extract.js")).runExtractBench(o),
  },
  serve: {
    describe: "paper Table 5: direct VLLM vs MoE fusion per query vs stored z_v + top-K vs bare top-K (20k/200k), + HTTP load test",
    run: async (o) => (await import("../../bench/serve.js")).runServeBench(o),
  },
  data: {
    describe: "official split, popularity ranks and metrics at MicroLens-100K size (1M interactions); synthetic 10k preset rendering videos/s",
    run: async (o) => (await import("../../bench/data.js")).runDataBenchEntry(o),
  },
  gpu: {
    describe: "one prepared command for a lent GPU (< 8 min on one H100): 7B-shaped extraction s/video + hook overhead, bf16 train step resident vs from the store, 1M-item top-K; --tiny: toy sizes on CPU",
    run: async (o) => (await import("../../bench/gpu.js")).runGpuBench(o),
  },
  scale: {
    describe: "the pipeline at MicroLens-100K size (--users, --items; --content renders and extracts): per-stage wall/CPU/peak RSS/disk, rank vs its bare floor",
    run: async (o) =>
      (await import("../../bench/scale.js")).runScaleBench({ log: o.log, content: o.content, sets: o.sets, ...(o.users ? { users: o.users } : {}), ...(o.items ? { items: o.items } : {}) }),
  },
  recbole: {
    describe: "ID baselines (configs/*-id.yaml) vs RecBole 1.2.1 on the synthetic 10k split, MicroLens masking, 3 seeds (own venv: .bench-venv/recbole)",
    run: async (o) => (await import("../../bench/recbole.js")).runRecboleBench(o),
  },
};

interface BenchArgs {
  what: string;
  json: boolean;
  quick: boolean;
  gpu: boolean;
  tiny: boolean;
  users?: number;
  items?: number;
  content: boolean;
  set: string[];
  out?: string;
}

/** `lo-exp bench <what> [--json] [--quick] [--out FILE]` (scale: `[--users N] [--items M] [--content] [--set K=V]`): run a benchmark, print a table, write JSON. */
export const benchCommand: CliCommand<BenchArgs> = {
  command: "bench <what>",
  describe: `Benchmarks (measured, never asserted in tests): ${Object.keys(BENCHES).join(", ")}`,
  builder: (y: Argv) =>
    y
      .positional("what", { type: "string", choices: Object.keys(BENCHES), describe: Object.entries(BENCHES).map(([k, v]) => `${k}: ${v.describe}`).join("; "), demandOption: true })
      .option("json", { type: "boolean", default: false, describe: "print one JSON object instead of tables" })
      .option("gpu", { type: "boolean", default: false, describe: "GPU path where a bench has one (extract: cuda:0)" })
      .option("tiny", { type: "boolean", default: false, describe: "bench gpu: the same code paths at toy sizes on the CPU (a smoke run)" })
      .option("users", { type: "number", describe: "scale: users (default 100000)" })
      .option("items", { type: "number", describe: "scale: catalogue size (default 19738)" })
      .option("content", { type: "boolean", default: false, describe: "scale: render the videos and extract the catalogue with the tiny backbone" })
      .option("set", { type: "string", array: true, default: [], describe: "scale: config override for the pipeline run, e.g. --set train.negatives=full" })
      .option("quick", { type: "boolean", default: false, describe: "fewer sizes and repeats (a smoke run)" })
      .option("out", { type: "string", describe: "where to write the JSON (default results/bench/<what>.json)" }) as unknown as Argv<BenchArgs>,
  handler: async (args) => {
    const entry = BENCHES[args.what];
    if (!entry) throw new CliError(`bench: unknown benchmark '${args.what}' (have: ${Object.keys(BENCHES).join(", ")})`);
    for (const key of ["users", "items"] as const) {
      const v = args[key];
      if (v !== undefined && !(Number.isInteger(v) && v > 0)) throw new CliError(`bench: --${key} ${String(v)}: expected a positive integer`);
    }
    const report = await entry.run({
      quick: args.quick,
      gpu: args.gpu,
      tiny: args.tiny,
      content: args.content,
      sets: args.set.map(String),
      ...(args.users !== undefined ? { users: args.users } : {}),
      ...(args.items !== undefined ? { items: args.items } : {}),
      log: (line) => process.stderr.write(`${line}\n`),
    });
    const { formatBenchReport } = await import("../../bench/report.js");
    const out = args.out ?? path.join("results", "bench", `${args.what}.json`);
    writeFileAtomic(out, JSON.stringify(report.json, null, 2) + "\n");
    writeFileSync(out.replace(/(\.json)?$/, ".md"), formatBenchReport(report)); // the markdown table beside the JSON
    process.stdout.write(args.json ? JSON.stringify(report.json) + "\n" : `${formatBenchReport(report)}\nJSON written to ${out}\n`);
  },
};
