// Experiment tables (experiments/*.yaml): a list of configs and the layout of the table they fill,
// with the paper's published numbers next to ours, clearly labelled.
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError, loadYamlWithSchema, showSource, sourceOf } from "../config/index.js";

export const TABLE_SCHEMA = fileURLToPath(new URL("../../schemas/experiment-table.schema.json", import.meta.url));

export interface TableRowSpec {
  label: string;
  /** absolute path of the row's config */
  config: string;
  group: string;
  paper: number[] | null;
}

export interface TableSpec {
  name: string;
  title: string;
  paper_source: string;
  split: "test" | "valid";
  columns: string[];
  slices: string[];
  sets: string[];
  rows: TableRowSpec[];
  /** absolute path of the experiment file */
  file: string;
}

/** One metric value, as in metrics.arrow: a row per split × slice × metric × K. */
export interface MetricValue {
  split: string;
  slice: string;
  metric: string;
  k: number;
  value: number;
  /** users in the slice */
  users: number;
}

/** Does this YAML file look like an experiment table rather than a single config? */
export function isTableDocument(data: Record<string, unknown>): boolean {
  return Array.isArray(data.rows);
}

export function loadTableSpec(path: string, cwd = process.cwd()): TableSpec {
  const { data, sources, file } = loadYamlWithSchema<Omit<TableSpec, "file">>(path, TABLE_SCHEMA, cwd);
  const problems: string[] = [];
  data.rows.forEach((row, i) => {
    const abs = resolve(dirname(file), row.config);
    if (!existsSync(abs))
      problems.push(`${showSource(sourceOf(sources, `rows.${i}.config`), cwd)} rows.${i}.config: file not found: ${row.config}`);
    if (row.paper && row.paper.length !== data.columns.length)
      problems.push(
        `${showSource(sourceOf(sources, `rows.${i}.paper`), cwd)} rows.${i}.paper: ${row.paper.length} numbers for ${data.columns.length} columns (${data.columns.join(", ")})`,
      );
    row.config = abs;
  });
  if (problems.length) throw new ConfigError(problems);
  return { ...data, file };
}

export function parseColumn(col: string): { metric: string; k: number } {
  const [metric, k] = col.split("@");
  return { metric: metric!, k: Number(k) };
}

const HEAD: Record<string, string> = { hr: "HR", ndcg: "NDCG" };
const SLICE_TITLES: Record<string, string> = {
  overall: "All targets",
  cold: "Cold-start targets (few training interactions)",
  longtail: "Long-tail targets (outside the head items)",
};
const colTitle = (col: string) => {
  const { metric, k } = parseColumn(col);
  return `${HEAD[metric] ?? metric}@${k}`;
};

function find(values: readonly MetricValue[], split: string, slice: string, col: string): MetricValue | undefined {
  const { metric, k } = parseColumn(col);
  return values.find((v) => v.split === split && v.slice === slice && v.metric === metric && v.k === k);
}

export interface TableRowResult {
  spec: TableRowSpec;
  run: string;
  metrics: readonly MetricValue[];
}

/** table.md: one table per slice; ours in bold where best; the paper's numbers in separate, labelled columns. */
export function renderTable(spec: TableSpec, results: readonly TableRowResult[], notes: readonly string[] = []): string {
  const out: string[] = [];
  out.push(`# ${spec.title || spec.name}`, "");
  out.push(
    `**ours** = measured by this run (\`lo-exp run ${spec.name}\`), ${spec.split} split, on the data each config names. ` +
      `**paper** = published numbers${spec.paper_source ? ` (${spec.paper_source})` : ""}, copied, not recomputed — ` +
      "they are on a different dataset and backbone unless the configs are the MicroLens ones, so compare trends, not values.",
    "",
  );
  const hasGroups = spec.rows.some((r) => r.group);
  for (const slice of spec.slices) {
    const usersBy = results.map((r) => find(r.metrics, spec.split, slice, spec.columns[0]!)?.users);
    const users = usersBy.find((u) => u !== undefined);
    const sliceTitle = SLICE_TITLES[slice] ?? `Slice: ${slice}`;
    out.push(`## ${sliceTitle}${users !== undefined ? ` (${users} users)` : ""}`, "");
    const withPaper = slice === "overall" && spec.rows.some((r) => r.paper);
    const head = ["Variant", ...(hasGroups ? ["Type"] : []), ...spec.columns.map((c) => `${colTitle(c)} ours`)];
    if (withPaper) head.push(...spec.columns.map((c) => `${colTitle(c)} paper`));
    head.push("run");
    out.push(`| ${head.join(" | ")} |`, `|${head.map((_, i) => (i === 0 || (hasGroups && i === 1) || i === head.length - 1 ? "---" : "---:")).join("|")}|`);
    const best = spec.columns.map((c) => Math.max(...results.map((r) => find(r.metrics, spec.split, slice, c)?.value ?? -Infinity)));
    for (const r of results) {
      const cells = [r.spec.label, ...(hasGroups ? [r.spec.group] : [])];
      spec.columns.forEach((c, j) => {
        const v = find(r.metrics, spec.split, slice, c);
        if (!v) cells.push("–");
        else {
          const text = v.value.toFixed(4);
          cells.push(results.length > 1 && v.value === best[j] ? `**${text}**` : text);
        }
      });
      if (withPaper) cells.push(...spec.columns.map((_, j) => (r.spec.paper ? r.spec.paper[j]!.toFixed(4) : "–")));
      cells.push(`\`${r.run}\``);
      out.push(`| ${cells.join(" | ")} |`);
    }
    out.push("");
  }
  if (notes.length) out.push(...notes.map((n) => `- ${n}`), "");
  return out.join("\n");
}
