/**
 * The shape every `lo-exp bench <what>` library function returns, and its text rendering.
 * (Lives here because the transport bench came first; any bench may import it.)
 */
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
