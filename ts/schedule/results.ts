// Result files of a run: metrics.arrow (a row per split × slice × metric × K), and publishing stage
// outputs into results/<name>/.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Float64, Int32, Int64, makeVector, Table, Utf8, vectorFromArray } from "apache-arrow";
import { writeArrowFile } from "../data/arrow-io.js";
import type { MetricsResult } from "../metrics/index.js";
import { copyFileAtomic } from "../util/fs.js";
import type { StageOutput } from "./graph.js";
import type { MetricValue } from "./table.js";

/** Flatten a MetricsResult into one value per split × slice × metric × K (empty slices left out). */
export function metricValues(m: MetricsResult): MetricValue[] {
  const out: MetricValue[] = [];
  for (const row of m.rows) {
    for (const metric of ["hr", "ndcg"] as const) {
      for (const k of m.ks) {
        const v = row[metric][k];
        if (v === null || v === undefined) continue;
        out.push({ split: row.split, slice: row.slice, metric, k, value: v, users: row.users });
      }
    }
  }
  return out;
}

/**
 * metrics.arrow (Arrow IPC file): run utf8, split utf8, slice utf8, metric utf8 (hr|ndcg), k int32,
 * value float64, users int64. Long format so `pd.read_feather` / `pl.read_ipc` give a tidy frame.
 */
export function metricsArrowTable(values: readonly MetricValue[], run: string): Table {
  return new Table({
    run: vectorFromArray(values.map(() => run), new Utf8()),
    split: vectorFromArray(values.map((v) => v.split), new Utf8()),
    slice: vectorFromArray(values.map((v) => v.slice), new Utf8()),
    metric: vectorFromArray(values.map((v) => v.metric), new Utf8()),
    k: makeVector({ type: new Int32(), data: Int32Array.from(values, (v) => v.k) }),
    value: makeVector({ type: new Float64(), data: Float64Array.from(values, (v) => v.value) }),
    users: makeVector({ type: new Int64(), data: BigInt64Array.from(values, (v) => BigInt(v.users)) }),
  });
}

/** Several runs' metrics tables as one (an experiment table's results/<table>/metrics.arrow). */
export function concatMetricsTables(tables: readonly Table[]): Table {
  const [first, ...rest] = tables;
  if (!first) return metricsArrowTable([], "");
  return first.concat(...rest);
}

export function writeMetricsArrow(path: string, values: readonly MetricValue[], run: string): void {
  writeArrowFile(path, metricsArrowTable(values, run));
}

/** Copy every file the stages listed under `publish` into `dir` (atomically; unchanged files are left alone). */
export function publishOutputs(outputs: ReadonlyMap<string, StageOutput>, dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const o of outputs.values()) {
    const files = Array.isArray(o.meta.publish) ? (o.meta.publish as unknown[]).map(String) : [];
    for (const f of files) {
      copyFileAtomic(join(o.dir, f), join(dir, f));
      written.push(f);
    }
  }
  return written;
}
