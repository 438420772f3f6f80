// Library function behind `lo-exp bench recbole`: our ID baselines (configs/*-id.yaml) side by side with
// RecBole 1.2.1 on the synthetic `10k` split, both scored with MicroLens masking. The measuring happens in
// Python (py/linkedout/bench/recbole/bench.py; RecBole in its own venv, .bench-venv/recbole); this makes
// the data (`data synth --preset 10k --no-videos`, then the pipeline's split) and renders the table.
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { splitDataset } from "../data/split.js";
import { synthesizeDataset } from "../data/synth.js";
import { findPython, REPO_ROOT } from "../worker/python.js";
import type { BenchReport } from "./report.js";

interface Side {
  model: string;
  side: "ours" | "recbole";
  seed: number;
  best_epoch: number;
  epoch_seconds: number | null;
  masked: Record<"valid" | "test", Record<string, number>>;
  recbole?: Record<"valid" | "test", Record<string, number>>;
  loadavg_before: number[] | null; // null: not recorded (a run tabulated after its driver was lost)
}

function meanStd(xs: number[]): string {
  if (!xs.length) return "-";
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1)) : 0;
  return `${m.toFixed(4)} ± ${sd.toFixed(4)}`;
}

/** `lo-exp bench recbole`: 3 models × seeds 0,1,2 × both sides (`quick`: SASRec, seed 0, 2 epochs). */
export async function runRecboleBench(o: { quick: boolean; log: (line: string) => void }): Promise<BenchReport> {
  const root = join(REPO_ROOT, "results", "bench", "recbole");
  const data = join(root, "data", "synth10k");
  const split = join(root, "data", "split10k");
  if (!existsSync(join(data, "MicroLens-synth_pairs.csv"))) {
    o.log(`writing the synthetic 10k preset (no videos) to ${data}`);
    await synthesizeDataset({ out: data, preset: "10k", videos: false }, null);
  }
  if (!existsSync(join(split, "test.arrow"))) splitDataset(data, split, { onMissingVideo: "keep" });
  const out = o.quick ? join(root, "quick") : root;
  const args = ["-m", "linkedout.bench.recbole.bench", "--split", split, "--out", out];
  if (o.quick) args.push("--models", "sasrec", "--seeds", "0", "--epochs", "2");
  const env = { ...process.env, PYTHONPATH: [join(REPO_ROOT, "py"), process.env.PYTHONPATH].filter(Boolean).join(":") };
  await new Promise<void>((resolve, reject) => {
    const child = spawn(findPython(), args, { cwd: REPO_ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.on("data", (b: Buffer) => b.toString().split("\n").filter(Boolean).forEach((l) => o.log(l)));
    child.stderr.on("data", (b: Buffer) => b.toString().split("\n").filter(Boolean).forEach((l) => o.log(l)));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`bench recbole: linkedout.bench.recbole.bench exited with ${code}`))));
  });
  const result = JSON.parse(readFileSync(join(out, "recbole.json"), "utf8")) as { runs: Side[]; epochs: number; patience: number };
  const rows: (string | number)[][] = [];
  for (const model of ["sasrec", "gru4rec", "nextitnet"]) {
    for (const side of ["ours", "recbole"] as const) {
      const rs = result.runs.filter((r) => r.model === model && r.side === side);
      if (!rs.length) continue;
      const test = (m: string) => meanStd(rs.map((r) => r.masked.test[m]!));
      rows.push([model, side, rs.map((r) => r.seed).join(","), test("hit@10"), test("ndcg@10"), test("hit@20"), test("ndcg@20"),
        side === "recbole" ? meanStd(rs.map((r) => r.recbole!.test["hit@10"]!)) : "-", rs.map((r) => r.best_epoch).join(","),
        meanStd(rs.flatMap((r) => (r.epoch_seconds === null ? [] : [r.epoch_seconds]))), rs.map((r) => r.loadavg_before?.[0]?.toFixed(1) ?? "-").join(",")]);
    }
  }
  const title = `recbole — test metrics with MicroLens masking, mean ± std over seeds; early stopping on valid HR@10 (patience ${result.patience}, cap ${result.epochs} epochs) both sides`;
  const columns = ["model", "side", "seeds", "HR@10", "NDCG@10", "HR@20", "NDCG@20", "RecBole's own HR@10 (unmasked)", "best epoch", "s/epoch", "load avg"];
  return { name: "recbole", tables: [{ title, columns, rows }], json: { bench: "recbole", ...result } };
}
