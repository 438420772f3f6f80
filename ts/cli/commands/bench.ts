import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Argv } from "yargs";
import { CliError, type CliCommand } from "../command.js";
import { formatBenchReport, type BenchReport } from "../../bench/report.js";
import { runTransportBench } from "../../bench/transport.js";
import { runTrainBench } from "../../bench/train.js";
import { runServeBench } from "../../bench/serve.js";
import { runExtractBench } from "../../bench/extract.js";
import { runDataBenchEntry } from "../../bench/data.js";
import { runRecboleBench } from "../../bench/recbole.js";

interface BenchRunOptions {
  quick: boolean;
  /** run on cuda:0 where the bench has a GPU path (extract) */
  gpu: boolean;
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
    run: (o) => runTransportBench({ log: o.log, ...(o.quick ? { sizesMb: [1, 16], repeats: 3, smallCalls: 200 } : {}) }),
  },
  train: { describe: "training sequences/s of the default model (quick-start and 7B TokenStore shapes), CPU", run: (o) => runTrainBench(o) },
  extract: { describe: "hooks vs plain generate (hook_overhead), items/s, memory: tiny model on CPU; --gpu: 7B configuration, random bf16 weights", run: (o) => runExtractBench(o) },
  serve: { describe: "paper Table 5: direct VLLM vs MoE fusion per query vs stored z_v + top-K vs bare top-K (20k/200k), + HTTP load test", run: (o) => runServeBench(o) },
  data: { describe: "official split, popularity ranks and metrics at MicroLens-100K size (1M interactions); synthetic 10k preset rendering videos/s", run: (o) => runDataBenchEntry(o) },
  recbole: { describe: "ID baselines (configs/*-id.yaml) vs RecBole 1.2.1 on the synthetic 10k split, MicroLens masking, 3 seeds (own venv: .bench-venv/recbole)", run: (o) => runRecboleBench(o) },
};

interface BenchArgs {
  what: string;
  json: boolean;
  quick: boolean;
  gpu: boolean;
  out?: string;
}

/** `lo-exp bench <what> [--json] [--quick] [--out FILE]`: run a benchmark, print a table, write JSON. */
export const benchCommand: CliCommand<BenchArgs> = {
  command: "bench <what>",
  describe: `Benchmarks (measured, never asserted in tests): ${Object.keys(BENCHES).join(", ")}`,
  builder: (y: Argv) =>
    y
      .positional("what", { type: "string", choices: Object.keys(BENCHES), describe: Object.entries(BENCHES).map(([k, v]) => `${k}: ${v.describe}`).join("; "), demandOption: true })
      .option("json", { type: "boolean", default: false, describe: "print one JSON object instead of tables" })
      .option("gpu", { type: "boolean", default: false, describe: "GPU path where a bench has one (extract: cuda:0)" })
      .option("quick", { type: "boolean", default: false, describe: "fewer sizes and repeats (a smoke run)" })
      .option("out", { type: "string", describe: "where to write the JSON (default results/bench/<what>.json)" }) as unknown as Argv<BenchArgs>,
  handler: async (args) => {
    const entry = BENCHES[args.what];
    if (!entry) throw new CliError(`bench: unknown benchmark '${args.what}' (have: ${Object.keys(BENCHES).join(", ")})`);
    const report = await entry.run({ quick: args.quick, gpu: args.gpu, log: (line) => process.stderr.write(`${line}\n`) });
    const out = args.out ?? path.join("results", "bench", `${args.what}.json`);
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(`${out}.tmp`, JSON.stringify(report.json, null, 2) + "\n");
    renameSync(`${out}.tmp`, out);
    process.stdout.write(args.json ? JSON.stringify(report.json) + "\n" : `${formatBenchReport(report)}\nJSON written to ${out}\n`);
  },
};
