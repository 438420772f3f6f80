// Experiment tables (experiments/*.yaml): a list of configs and the layout of the table they fill,
// with the paper's published numbers next to ours, clearly labelled.
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Bool, Field, Float64, Int32, Int64, List, makeData, makeVector, Table, Utf8, vectorFromArray, type Vector } from "apache-arrow";
import { ConfigError, loadYamlWithSchema, showSource, sourceOf } from "../config/index.js";
import { utf8ListVector, utf8Vector } from "../data/arrow-columns.js";
import {
  pairedComparison,
  readCatalogueCounts,
  readRanks,
  rowStats,
  userVectors,
  columnName,
  type BootstrapOptions,
  type MetricsOptions,
  type UserVectors,
} from "../metrics/index.js";

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
  /** training seeds (train.seed) each row runs with; empty = the config's own seed, one run */
  seeds: number[];
  /** label of the row the others are compared with ("" = none) */
  baseline: string;
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
  if (data.baseline && !data.rows.some((r) => r.label === data.baseline))
    problems.push(
      `${showSource(sourceOf(sources, "baseline"), cwd)} baseline: no row is labelled '${data.baseline}' (rows: ${data.rows.map((r) => r.label).join(", ")})`,
    );
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

/** One row × seed of a table: where its ranks are and how its slices are defined. */
export interface SeedRun {
  seed: number;
  /** ranks.arrow of this run */
  ranks: string;
  /** items.arrow of its split (train counts, for the slices) */
  items: string;
  eval: MetricsOptions;
}

/** A row's difference from the baseline row in one cell (docs/results.md, "Statistics"). */
export interface BaselineComparison {
  baseline: string;
  /** row − baseline */
  difference: number;
  ci_low: number;
  ci_high: number;
  /** exact two-sided sign test over the users */
  p_value: number;
  /** users better under this row / under the baseline */
  row_better: number;
  baseline_better: number;
  /** the 95 % interval of the difference excludes 0 */
  significant: boolean;
}

/** One cell: a row's metric on one split × slice, over its seeds. */
export interface TableCell {
  split: string;
  slice: string;
  metric: string;
  k: number;
  users: number;
  seeds: number[];
  /** the metric of each seed's run, in `seeds` order */
  perSeed: number[];
  mean: number;
  /** over seeds; null with one seed */
  sd: number | null;
  ci_low: number;
  ci_high: number;
  vsBaseline: BaselineComparison | null;
}

export interface TableRowResult {
  spec: TableRowSpec;
  run: string;
  cells: TableCell[];
  /** each seed's ranks.arrow, in seed order */
  ranks: string[];
}

interface RowVectors {
  seeds: number[];
  /** per seed: split/slice → vectors */
  bySeed: Map<string, UserVectors>[];
}

const cellKey = (split: string, slice: string) => `${split}\u0000${slice}`;

function loadRowVectors(runs: readonly SeedRun[], ks: number[]): RowVectors {
  return {
    seeds: runs.map((r) => r.seed),
    bySeed: runs.map((r) => {
      const vs = userVectors(readRanks(r.ranks), readCatalogueCounts(r.items), { ...r.eval, ks });
      return new Map(vs.map((v) => [cellKey(v.split, v.slice), v]));
    }),
  };
}

/** The seed × user matrix of one cell, columns in the order of `users` (every seed must have them). */
function matrix(row: RowVectors, key: string, column: string, users: readonly string[], label: string): Float64Array[] {
  return row.bySeed.map((m, s) => {
    const v = m.get(key);
    if (!v) throw new Error(`${label}: seed ${row.seeds[s]} has no users in this slice`);
    const at = new Map(v.users.map((u, i) => [u, i]));
    const col = v.values.get(column)!;
    return Float64Array.from(users, (u) => {
      const i = at.get(u);
      if (i === undefined) throw new Error(`${label}: seed ${row.seeds[s]} did not evaluate user '${u}'`);
      return col[i]!;
    });
  });
}

/**
 * Every row's cells: mean, sd over seeds, bootstrap interval, and the paired comparison with the
 * baseline row (over the users both evaluated). `runs[i]` are row i's seed runs.
 */
export function tableCells(spec: TableSpec, runs: readonly (readonly SeedRun[])[], boot: BootstrapOptions = {}): TableCell[][] {
  const ks = [...new Set(spec.columns.map((c) => parseColumn(c).k))].sort((a, b) => a - b);
  const vectors = runs.map((r) => loadRowVectors(r, ks));
  const baseIndex = spec.baseline ? spec.rows.findIndex((r) => r.label === spec.baseline) : -1;
  return spec.rows.map((rowSpec, i) => {
    const row = vectors[i]!;
    const cells: TableCell[] = [];
    for (const slice of spec.slices) {
      const key = cellKey(spec.split, slice);
      const users = row.bySeed[0]!.get(key)?.users;
      if (!users || users.length === 0) continue; // empty slice
      for (const col of spec.columns) {
        const { metric, k } = parseColumn(col);
        const column = columnName(metric, k);
        const x = matrix(row, key, column, users, rowSpec.label);
        const st = rowStats(x, boot);
        let vsBaseline: BaselineComparison | null = null;
        // paired only on the same split (same split folder, so the same users); else no comparison
        const sameSplit = baseIndex >= 0 && runs[baseIndex]!.every((r) => r.items === runs[i]![0]!.items) && runs[i]!.every((r) => r.items === runs[i]![0]!.items);
        if (baseIndex >= 0 && baseIndex !== i && sameSplit) {
          const base = vectors[baseIndex]!;
          const baseUsers = new Set(base.bySeed[0]!.get(key)?.users ?? []);
          const shared = users.filter((u) => baseUsers.has(u));
          if (shared.length > 0) {
            const pairSeeds = base.seeds.length === row.seeds.length && base.seeds.every((s, j) => s === row.seeds[j]);
            const c = pairedComparison(matrix(row, key, column, shared, rowSpec.label), matrix(base, key, column, shared, spec.baseline), pairSeeds, boot);
            vsBaseline = {
              baseline: spec.baseline,
              difference: c.difference,
              ci_low: c.ci.low,
              ci_high: c.ci.high,
              p_value: c.sign.p,
              row_better: c.sign.aBetter,
              baseline_better: c.sign.bBetter,
              significant: c.significant,
            };
          }
        }
        cells.push({ split: spec.split, slice, metric, k, users: users.length, seeds: row.seeds, perSeed: st.perSeed, mean: st.mean, sd: st.sd, ci_low: st.ci.low, ci_high: st.ci.high, vsBaseline });
      }
    }
    return cells;
  });
}

function findCell(cells: readonly TableCell[], slice: string, col: string): TableCell | undefined {
  const { metric, k } = parseColumn(col);
  return cells.find((c) => c.slice === slice && c.metric === metric && c.k === k);
}

const f4 = (v: number) => v.toFixed(4);
const f3 = (v: number) => v.toFixed(3);
const signed = (v: number) => `${v >= 0 ? "+" : "−"}${Math.abs(v).toFixed(4)}`;
const pText = (p: number) => (p < 0.001 ? "p < 0.001" : `p = ${p.toFixed(3)}`);

/**
 * table.md: one table per slice; each cell the mean over seeds, ± the sd over seeds, and the 95 %
 * interval; ▲/▼ where the paired interval of the difference from the baseline excludes 0; ours in bold
 * where best; the paper's numbers in separate, labelled columns; then the differences from the baseline.
 */
export function renderTable(spec: TableSpec, results: readonly TableRowResult[], notes: readonly string[] = []): string {
  const out: string[] = [];
  const seeds = results[0]?.cells[0]?.seeds ?? [];
  out.push(`# ${spec.title || spec.name}`, "");
  out.push(
    `**ours** = measured by this run (\`lo-exp run ${spec.name}\`), ${spec.split} split, on the data each config names` +
      (seeds.length > 1 ? `, mean over ${seeds.length} training seeds (${seeds.join(", ")})` : `, one training seed (${seeds.join(", ")})`) +
      `. Each cell: mean${seeds.length > 1 ? " ± standard deviation over seeds" : ""} [95 % interval: bootstrap over test users${seeds.length > 1 ? " and seeds" : ""}, docs/results.md]` +
      (spec.baseline ? `; ▲/▼ = above/below the baseline row (${spec.baseline}) beyond the paired 95 % interval of the difference` : "") +
      `. **paper** = published numbers${spec.paper_source ? ` (${spec.paper_source})` : ""}, copied, not recomputed — ` +
      "they are on a different dataset and backbone unless the configs are the MicroLens ones, so compare trends, not values.",
    "",
  );
  const hasGroups = spec.rows.some((r) => r.group);
  for (const slice of spec.slices) {
    const users = results.map((r) => findCell(r.cells, slice, spec.columns[0]!)?.users).find((u) => u !== undefined);
    const sliceTitle = SLICE_TITLES[slice] ?? `Slice: ${slice}`;
    out.push(`## ${sliceTitle}${users !== undefined ? ` (${users} users)` : ""}`, "");
    const withPaper = slice === "overall" && spec.rows.some((r) => r.paper);
    const head = ["Variant", ...(hasGroups ? ["Type"] : []), ...spec.columns.map((c) => `${colTitle(c)} ours`)];
    if (withPaper) head.push(...spec.columns.map((c) => `${colTitle(c)} paper`));
    head.push("run");
    out.push(`| ${head.join(" | ")} |`, `|${head.map((_, i) => (i === 0 || (hasGroups && i === 1) || i === head.length - 1 ? "---" : "---:")).join("|")}|`);
    const best = spec.columns.map((c) => Math.max(...results.map((r) => findCell(r.cells, slice, c)?.mean ?? -Infinity)));
    for (const r of results) {
      const cells = [r.spec.label, ...(hasGroups ? [r.spec.group] : [])];
      spec.columns.forEach((c, j) => {
        const v = findCell(r.cells, slice, c);
        if (!v) cells.push("–");
        else {
          const mean = results.length > 1 && v.mean === best[j] ? `**${f4(v.mean)}**` : f4(v.mean);
          const sd = v.sd === null ? "" : ` ± ${f4(v.sd)}`;
          const mark = v.vsBaseline?.significant ? (v.vsBaseline.difference > 0 ? " ▲" : " ▼") : "";
          cells.push(`${mean}${sd} [${f3(v.ci_low)}, ${f3(v.ci_high)}]${mark}`);
        }
      });
      if (withPaper) cells.push(...spec.columns.map((_, j) => (r.spec.paper ? r.spec.paper[j]!.toFixed(4) : "–")));
      cells.push(`\`${r.run}\``);
      out.push(`| ${cells.join(" | ")} |`);
    }
    out.push("");
  }
  if (spec.baseline) {
    out.push(
      `## Differences from the baseline (${spec.baseline})`,
      "",
      "Row − baseline on the same users (and seeds), its paired 95 % bootstrap interval, and the exact sign test's p-value " +
        "over the users whose seed-averaged value differs (users better / worse under the row).",
      "",
    );
    const head = ["Variant", "slice", ...spec.columns.map(colTitle)];
    out.push(`| ${head.join(" | ")} |`, `|${head.map((_, i) => (i < 2 ? "---" : "---:")).join("|")}|`);
    for (const r of results) {
      if (r.spec.label === spec.baseline) continue;
      for (const slice of spec.slices) {
        const cells = spec.columns.map((c) => {
          const d = findCell(r.cells, slice, c)?.vsBaseline;
          if (!d) return "–";
          const diff = d.significant ? `**${signed(d.difference)}**` : signed(d.difference);
          return `${diff} [${signed(d.ci_low)}, ${signed(d.ci_high)}] ${pText(d.p_value)} (${d.row_better}/${d.baseline_better})`;
        });
        out.push(`| ${r.spec.label} | ${slice} | ${cells.join(" | ")} |`);
      }
    }
    out.push("");
  }
  if (notes.length) out.push(...notes.map((n) => `- ${n}`), "");
  return out.join("\n");
}

function floatListVector(lists: readonly (readonly number[])[]): Vector<List<Float64>> {
  const offsets = new Int32Array(lists.length + 1);
  const flat: number[] = [];
  lists.forEach((l, i) => {
    flat.push(...l);
    offsets[i + 1] = flat.length;
  });
  const child = makeData({ type: new Float64(), length: flat.length, nullCount: 0, data: Float64Array.from(flat) });
  const type = new List(new Field("item", new Float64(), false));
  return makeVector(makeData({ type, length: lists.length, nullCount: 0, valueOffsets: offsets, child }));
}

function intListVector(lists: readonly (readonly number[])[]): Vector<List<Int32>> {
  const offsets = new Int32Array(lists.length + 1);
  const flat: number[] = [];
  lists.forEach((l, i) => {
    flat.push(...l);
    offsets[i + 1] = flat.length;
  });
  const child = makeData({ type: new Int32(), length: flat.length, nullCount: 0, data: Int32Array.from(flat) });
  const type = new List(new Field("item", new Int32(), false));
  return makeVector(makeData({ type, length: lists.length, nullCount: 0, valueOffsets: offsets, child }));
}

/**
 * table.arrow (docs/results.md): one row per table row × split × slice × metric × K, with the per-seed
 * values and ranks files (so a notebook can redo the statistics), the mean, sd, interval, the paper's
 * number (overall slice) and the comparison with the baseline row (nulls where none).
 */
export function tableArrow(spec: TableSpec, results: readonly TableRowResult[]): Table {
  const rows: { r: TableRowResult; c: TableCell; paper: number | null }[] = [];
  for (const r of results)
    for (const c of r.cells) {
      const j = spec.columns.findIndex((col) => col === columnName(c.metric, c.k));
      rows.push({ r, c, paper: c.slice === "overall" && r.spec.paper && j >= 0 ? r.spec.paper[j]! : null });
    }
  const f64 = (get: (x: (typeof rows)[number]) => number | null) => vectorFromArray(rows.map(get), new Float64());
  return new Table({
    row: utf8Vector(rows.map((x) => x.r.spec.label)),
    run: utf8Vector(rows.map((x) => x.r.run)),
    split: utf8Vector(rows.map((x) => x.c.split)),
    slice: utf8Vector(rows.map((x) => x.c.slice)),
    metric: utf8Vector(rows.map((x) => x.c.metric)),
    k: makeVector({ type: new Int32(), data: Int32Array.from(rows, (x) => x.c.k) }),
    users: makeVector({ type: new Int64(), data: BigInt64Array.from(rows, (x) => BigInt(x.c.users)) }),
    seeds: intListVector(rows.map((x) => x.c.seeds)),
    values: floatListVector(rows.map((x) => x.c.perSeed)),
    ranks: utf8ListVector(rows.map((x) => x.r.ranks)),
    mean: f64((x) => x.c.mean),
    sd: f64((x) => x.c.sd),
    ci_low: f64((x) => x.c.ci_low),
    ci_high: f64((x) => x.c.ci_high),
    paper: f64((x) => x.paper),
    baseline: vectorFromArray(rows.map((x) => x.c.vsBaseline?.baseline ?? null), new Utf8()),
    difference: f64((x) => x.c.vsBaseline?.difference ?? null),
    diff_ci_low: f64((x) => x.c.vsBaseline?.ci_low ?? null),
    diff_ci_high: f64((x) => x.c.vsBaseline?.ci_high ?? null),
    p_value: f64((x) => x.c.vsBaseline?.p_value ?? null),
    significant: vectorFromArray(rows.map((x) => x.c.vsBaseline?.significant ?? null), new Bool()),
  });
}
