// `lo-exp run CONFIG|EXPERIMENT`: run one config's stage graph, or every row of an experiment
// table with one shared cache and worker pool, then publish results/<name>/.
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { readManifest } from "./tokenstore-files.js";
import { join, relative, resolve } from "node:path";
import { tableToIPC } from "apache-arrow";
import { parse as parseYaml } from "yaml";
import { ConfigError, configToYaml, loadConfig, type ExperimentConfig, type LoadedConfig } from "../config/index.js";
import { writeArrowFile } from "../data/index.js";
import { DataError } from "../data/errors.js";
import { formatMetrics, type MetricsResult } from "../metrics/index.js";
import { writeFileAtomic } from "../util/fs.js";
import { runGraph, type StageOutput } from "./graph.js";
import { pipelineStages } from "./pipeline.js";
import { configSourcesNote, PreflightError, preflightProblems } from "./preflight.js";
import { defaultLogMode, Reporter, type LogMode } from "./progress.js";
import { RunResources } from "./resources.js";
import { concatMetricsTables, metricsArrowTable, metricValues, publishOutputs } from "./results.js";
import { isTableDocument, loadTableSpec, renderTable, tableArrow, tableCells, type MetricValue, type SeedRun, type TableRowResult, type TableSpec } from "./table.js";

export interface RunOptions {
  /** --set overrides for every config */
  sets?: readonly string[];
  /** --force STAGE (and everything downstream); "all" for everything */
  force?: readonly string[];
  /** --json: NDJSON events on stdout instead of human lines */
  json?: boolean;
  mode?: LogMode;
  cwd?: string;
  signal?: AbortSignal;
  reporter?: Reporter;
  /** where the final tables are printed (default stdout; nothing in json mode) */
  print?: (text: string) => void;
  /** the command line, recorded in results/<name>/command.txt */
  commandLine?: readonly string[];
  /** --strict: any failed item fails the run (also the config key `strict`) */
  strict?: boolean;
  /** --verify-cache: check the sha256 of every file of every cache hit (default: sizes, and hashes of small files) */
  verifyCache?: boolean;
  /** --seeds: run each config once per training seed (overrides an experiment table's `seeds`) */
  seeds?: readonly number[];
}

/** One config run with one training seed: `train.seed` set, results in results/<name>/seed-<seed>/. */
interface SeedOption {
  seed?: number;
}

/** Items a run could not use (undecodable or missing videos), and where they are listed. */
export interface FailedItems {
  count: number;
  /** of this many catalogue items */
  of: number;
  /** results/<name>/failed_items.tsv (item, reason), or null when none failed */
  list: string | null;
}

/** `strict` and some items failed: the results are written, the exit code says the run is not clean. */
export class FailedItemsError extends Error {
  readonly exitCode = 3;
  constructor(readonly failures: readonly { run: string; failed: FailedItems }[]) {
    super(
      failures
        .map(({ run, failed }) => `${run}: ${failed.count} of ${failed.of} videos failed extraction (strict; listed in ${failed.list ?? "the TokenStore manifest"})`)
        .join("\n"),
    );
    this.name = "FailedItemsError";
  }
}

export interface ConfigRunResult {
  name: string;
  /** the training seed (train.seed) it ran with */
  seed: number;
  config: ExperimentConfig;
  loaded: LoadedConfig;
  resultsDir: string;
  outputs: Map<string, StageOutput>;
  metrics: MetricsResult;
  values: MetricValue[];
  failed: FailedItems;
}

export interface TableRunResult {
  name: string;
  resultsDir: string;
  /** every row × seed run, row by row */
  rows: ConfigRunResult[];
  /** the seed of each entry of `rows` */
  seeds: number[];
  tableMarkdown: string;
}

function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

function makeReporter(opts: RunOptions): Reporter {
  return opts.reporter ?? new Reporter({ mode: opts.mode ?? defaultLogMode(opts.json ?? false) });
}

/**
 * The extract stage's failed items, written to `<resultsDir>/failed_items.tsv` (item, reason) so the
 * final summary can point at them; an older list is removed when nothing failed.
 */
function publishFailedItems(outputs: ReadonlyMap<string, StageOutput>, resultsDir: string): FailedItems {
  const file = join(resultsDir, "failed_items.tsv");
  const ex = outputs.get("extract");
  const failed = (ex ? readManifest(join(ex.dir, String(ex.meta.store ?? "store")))?.failed : undefined) ?? [];
  const of = Number(ex?.meta.items ?? 0);
  if (failed.length === 0) {
    rmSync(file, { force: true });
    return { count: 0, of, list: null };
  }
  const oneLine = (s: string) => s.replace(/[\t\r\n]+/g, " ");
  writeFileAtomic(file, `item\treason\n${failed.map((f) => `${oneLine(f.item)}\t${oneLine(f.reason)}\n`).join("")}`);
  return { count: failed.length, of, list: file };
}

function failedSummary(failed: FailedItems, cwd: string): string {
  if (failed.count === 0) return "";
  const list = failed.list ? relative(cwd, failed.list) || failed.list : "";
  return `\n${failed.count} of ${failed.of} videos failed extraction and have no content tokens; list: ${list}\n`;
}

function printer(opts: RunOptions, reporter: Reporter): (text: string) => void {
  if (opts.print) return opts.print;
  return reporter.mode === "json" ? () => {} : (t) => process.stdout.write(t);
}

/** Run one config. With `shared`, the caller owns the reporter and worker pool (experiment tables). */
export async function runConfig(
  path: string,
  opts: RunOptions & SeedOption = {},
  shared?: { reporter: Reporter; resources: RunResources },
): Promise<ConfigRunResult> {
  const cwd = opts.cwd ?? process.cwd();
  const seedSets = opts.seed === undefined ? [] : [`train.seed=${opts.seed}`];
  const loaded = await loadConfig(path, { sets: [...(opts.sets ?? []), ...seedSets], cwd });
  const { config } = loaded;
  if (!shared) {
    // an experiment table checks all its rows before the first one starts
    const problems = preflightProblems(loaded, cwd);
    if (problems.length) throw new PreflightError(problems);
  }
  const reporter = shared?.reporter ?? makeReporter(opts);
  const resources = shared?.resources ?? new RunResources(config.workers, reporter);
  if (shared) await resources.configure(config.workers);
  const stages = pipelineStages();
  const signal = opts.signal ?? new AbortController().signal;
  // On interrupt, stop the workers at once so in-flight calls fail and the graph unwinds.
  const onAbort = () => void resources.kill();
  signal.addEventListener("abort", onAbort);
  const t0 = Date.now();
  try {
    reporter.emit({ event: "run_start", run: config.name, config: path, stages: stages.map((s) => s.name) });
    let outputs: Map<string, StageOutput>;
    try {
      outputs = await runGraph(stages, config, { cacheDir: config.cache_dir, reporter, resources, force: opts.force ?? [], signal, verify: opts.verifyCache ? "hashes" : "sizes" });
    } catch (err) {
      // a stage's error names a config key (`model.path '…': …`): say where its value was set
      if (err instanceof Error) err.message += configSourcesNote(err.message, loaded, cwd);
      throw err;
    }
    const resultsDir = join(config.results_dir, config.name, ...(opts.seed === undefined ? [] : [`seed-${opts.seed}`]));
    publishOutputs(outputs, resultsDir);
    writeFileAtomic(join(resultsDir, "resolved.yaml"), `# resolved config of run ${config.name}; each value's source in its comment\n${configToYaml(loaded, { sources: true, cwd })}`);
    const argv = opts.commandLine ?? ["lo-exp", "run", path, ...[...(opts.sets ?? []), ...seedSets].flatMap((s) => ["--set", s])];
    writeFileAtomic(join(resultsDir, "command.txt"), `${argv.map(shellQuote).join(" ")}\n# cwd: ${cwd}\n`);
    writeFileAtomic(
      join(resultsDir, "stages.json"),
      `${JSON.stringify(Object.fromEntries([...outputs].map(([k, o]) => [k, { key: o.key, dir: o.dir, cached: o.cached }])), null, 2)}\n`,
    );
    const metricsOut = outputs.get("metrics");
    if (!metricsOut) throw new Error("the pipeline produced no metrics");
    const metrics = JSON.parse(readFileSync(join(metricsOut.dir, "metrics.json"), "utf8")) as MetricsResult;
    const values = metricValues(metrics);
    const table = `# ${config.name}\n\nconfig: \`${loaded.file}\`\n\n${formatMetrics(metrics)}\n`;
    const failed = publishFailedItems(outputs, resultsDir);
    writeFileAtomic(join(resultsDir, "table.md"), `${table}${failedSummary(failed, resultsDir)}`);
    reporter.emit({
      event: "run_done",
      run: config.name,
      seconds: (Date.now() - t0) / 1000,
      results: resultsDir,
      failed_items: failed.count,
      failed_list: failed.list,
    });
    if (!shared) {
      printer(opts, reporter)(`\n${formatMetrics(metrics)}\n${failedSummary(failed, cwd)}`);
      if (failed.count > 0 && (opts.strict || config.strict)) throw new FailedItemsError([{ run: config.name, failed }]);
    }
    return { name: config.name, seed: config.train.seed, config, loaded, resultsDir, outputs, metrics, values, failed };
  } finally {
    signal.removeEventListener("abort", onAbort);
    if (!shared) await resources.close();
  }
}

/** Run every row of an experiment table (one cache, one worker pool) and write its table.md and table.arrow. */
export async function runTable(path: string, opts: RunOptions = {}): Promise<TableRunResult> {
  return runTableSpec(loadTableSpec(path, opts.cwd ?? process.cwd()), opts);
}

/** A single config run over several seeds: a one-row table, written to results/<name>/ (seeds in seed-<s>/). */
async function runConfigSeeds(path: string, opts: RunOptions): Promise<TableRunResult> {
  const cwd = opts.cwd ?? process.cwd();
  const { config, file } = await loadConfig(path, { sets: opts.sets ?? [], cwd });
  const columns = config.eval.ks.flatMap((k) => [`hr@${k}`, `ndcg@${k}`]);
  const spec: TableSpec = {
    name: config.name,
    title: config.name,
    paper_source: "",
    split: "test",
    columns,
    slices: ["overall", "cold", "longtail"],
    sets: [],
    seeds: [],
    baseline: "",
    rows: [{ label: config.name, config: file, group: "", paper: null }],
    file,
  };
  return runTableSpec(spec, opts);
}

/** The ranks.arrow a run published and the split's items.arrow, for the table's statistics. */
function seedRun(r: ConfigRunResult): SeedRun {
  const split = r.outputs.get("split");
  if (!split) throw new Error(`${r.name}: the pipeline produced no split`);
  return {
    seed: r.seed,
    ranks: join(r.resultsDir, "ranks.arrow"),
    items: join(split.dir, "items.arrow"),
    eval: { coldMax: r.config.eval.cold_max, longTailShare: r.config.eval.long_tail_share },
  };
}

async function runTableSpec(spec: TableSpec, opts: RunOptions): Promise<TableRunResult> {
  const cwd = opts.cwd ?? process.cwd();
  const reporter = makeReporter(opts);
  const sets = [...spec.sets, ...(opts.sets ?? [])];
  // --seeds overrides the table's; none: each row once, with its config's own train.seed
  const seeds: (number | undefined)[] = opts.seeds?.length ? [...opts.seeds] : spec.seeds.length ? spec.seeds : [undefined];
  // Check every row's config before any work starts: a typo in the last row should not cost the others' run time.
  const problems: string[] = [];
  const names = new Map<string, string>();
  let firstWorkers: ExperimentConfig["workers"] | undefined;
  for (const [i, row] of spec.rows.entries()) {
    try {
      const loaded = await loadConfig(row.config, { sets, cwd });
      const { config } = loaded;
      for (const p of preflightProblems(loaded, cwd)) if (!problems.includes(p)) problems.push(p);
      firstWorkers ??= config.workers;
      const other = names.get(config.name);
      if (other !== undefined) problems.push(`${spec.file}: rows.${i} (${row.label}) has the run name "${config.name}" of "${other}"; results would overwrite each other`);
      names.set(config.name, row.label);
    } catch (err) {
      if (err instanceof ConfigError) problems.push(...err.problems);
      else if (err instanceof DataError) problems.push(`${row.config}: ${err.message}`);
      else throw err;
    }
  }
  if (problems.length) throw new PreflightError(problems);
  const runs: ConfigRunResult[][] = spec.rows.map(() => []);
  // workers come from the first row's config; rows with other settings restart the pool
  const resources = new RunResources(firstWorkers!, reporter);
  try {
    // seed by seed, every row: an interrupted run has whole seeds of the table done first. Data, split
    // and extraction do not depend on the seed: the cache serves them after their first run.
    for (const seed of seeds) {
      for (const [i, row] of spec.rows.entries()) {
        reporter.log(`── ${spec.name}: ${row.label}${seed === undefined ? "" : `, seed ${seed}`} (${row.config})`);
        runs[i]!.push(await runConfig(row.config, { ...opts, sets, cwd, ...(seed === undefined ? {} : { seed }) }, { reporter, resources }));
      }
    }
    return await publishTable(spec, runs, seeds, opts, { reporter, resources });
  } finally {
    await resources.close();
  }
}

/** table.md, table.arrow, table.png and metrics.arrow of a finished table run. */
async function publishTable(
  spec: TableSpec,
  runs: ConfigRunResult[][],
  seeds: readonly (number | undefined)[],
  opts: RunOptions,
  shared: { reporter: Reporter; resources: RunResources },
): Promise<TableRunResult> {
  const cwd = opts.cwd ?? process.cwd();
  const { reporter } = shared;
  const rows = runs.flat();
  const first = rows[0]!;
  const resultsDir = join(first.config.results_dir, spec.name);
  const cells = tableCells(spec, runs.map((perSeed) => perSeed.map(seedRun)));
  const results: TableRowResult[] = runs.map((perSeed, i) => ({
    spec: spec.rows[i]!,
    run: perSeed[0]!.name,
    cells: cells[i]!,
    ranks: perSeed.map((r) => join(r.resultsDir, "ranks.arrow")),
  }));
  const notes = [
    `data: ${describeData(first.config)}; each row's full results are in \`${first.config.results_dir}/<run>/${seeds[0] === undefined ? "" : "seed-<seed>/"}\`; every number of this table, per seed, in \`table.arrow\` here.`,
  ];
  const tableMarkdown = renderTable(spec, results, notes);
  mkdirSync(resultsDir, { recursive: true });
  writeArrowFile(
    join(resultsDir, "metrics.arrow"),
    concatMetricsTables(rows.map((r) => metricsArrowTable(r.values, seeds[0] === undefined ? r.name : `${r.name}/seed-${r.seed}`))),
  );
  const tablePath = join(resultsDir, "table.arrow");
  const tableBytes = tableToIPC(tableArrow(spec, results), "file");
  const png = join(resultsDir, "table.png");
  // the plot needs a worker: redrawn only when the numbers changed, so a rerun of a finished table starts none
  const redraw = !existsSync(png) || !existsSync(tablePath) || !Buffer.from(tableBytes).equals(readFileSync(tablePath));
  writeFileAtomic(tablePath, tableBytes);
  writeFileAtomic(join(resultsDir, "table.md"), tableMarkdown);
  if (redraw) {
    const pool = await shared.resources.pool();
    await pool.call("plot_report", { out_dir: resultsDir, table_path: tablePath, title: spec.title || spec.name }, { log: (m) => reporter.log(m) });
  }
  printer(opts, reporter)(`\n${tableMarkdown}\n${rows.map((r) => failedSummary(r.failed, cwd).replace(/^\n/, `\n${r.name}: `)).join("")}`);
  const strictFailures = rows.filter((r) => r.failed.count > 0 && (opts.strict || r.config.strict)).map((r) => ({ run: r.name, failed: r.failed }));
  if (strictFailures.length) throw new FailedItemsError(strictFailures);
  return { name: spec.name, resultsDir, rows, seeds: rows.map((r) => r.seed), tableMarkdown };
}

function describeData(config: ExperimentConfig): string {
  const d = config.dataset;
  return d.source === "microlens" ? `MicroLens at ${d.dir}` : "the built-in synthetic dataset";
}

/** `lo-exp run PATH`: an experiment table (has `rows:`) or a single config. */
export async function runPath(path: string, opts: RunOptions = {}): Promise<ConfigRunResult | TableRunResult> {
  const abs = resolve(opts.cwd ?? process.cwd(), path);
  let doc: unknown;
  try {
    doc = existsSync(abs) ? parseYaml(readFileSync(abs, "utf8")) : undefined;
  } catch {
    doc = undefined; // let the config loader report the YAML error with its location
  }
  if (doc && typeof doc === "object" && isTableDocument(doc as Record<string, unknown>)) return runTable(path, opts);
  if (opts.seeds?.length) return runConfigSeeds(path, opts);
  return runConfig(path, opts);
}
