/**
 * The shape every `lo-exp bench <what>` library function returns, and its text rendering.
 * (Lives here because the transport bench came first; any bench may import it.)
 */
import { resolve } from "node:path";
import { writeFileAtomic } from "../util/fs.js";
import { startWorker } from "../worker/client.js";
import type { OpArgs, OpName } from "../worker/generated/ops.js";
import type { ProgressInfo } from "../worker/protocol.js";
export interface BenchTable {
  title: string;
  columns: string[];
  rows: (string | number)[][];
}
export interface BenchReport {
  name: string;
  tables: BenchTable[];
  /** Printed by `--json` and written to results/bench/<name>.json. */
  json: Record<string, unknown>;
}

/** Markdown tables (aligned), ready to paste into docs/benchmarks.md. */
export function formatBenchReport(report: BenchReport): string {
  const out: string[] = [];
  for (const t of report.tables) {
    const cells = [t.columns, ...t.rows.map((r) => r.map(String))];
    const widths = t.columns.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
    const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
    out.push(`${t.title}\n`, line(t.columns), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...t.rows.map((r) => line(r.map(String))), "");
  }
  return out.join("\n");
}

/**
 * Run one benchmark op on a fresh worker (cuda:0 with `gpu`, else the CPU) and close it; the result gets
 * a `date`, and is written as JSON to `out` (atomically) when given. Benches whose measuring happens in
 * Python (train, extract) are this one call.
 */
export async function runBenchOp<O extends OpName, R extends object>(
  op: O,
  args: OpArgs[O],
  opts: { gpu?: boolean; threads?: number; out?: string; onProgress?: (p: ProgressInfo) => void } = {},
): Promise<R & { date: string }> {
  const w = await startWorker({ device: opts.gpu ? "cuda:0" : "cpu", threads: opts.threads ?? 1, startTimeoutS: 300 });
  try {
    const r = await w.call<O, R>(op, args, opts.onProgress ? { onProgress: opts.onProgress } : {});
    const result = { ...r.result, date: new Date().toISOString() };
    if (opts.out) writeFileAtomic(resolve(opts.out), `${JSON.stringify(result, null, 2)}\n`);
    return result;
  } finally {
    await w.close();
  }
}
