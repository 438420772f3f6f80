import { expect } from "chai";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../../ts/config/index.js";
import { runTable } from "../../ts/schedule/run.js";
import { Reporter } from "../../ts/schedule/progress.js";
import { loadTableSpec, renderTable, type BaselineComparison, type TableCell, type TableSpec } from "../../ts/schedule/table.js";

const cell = (slice: string, metric: string, k: number, mean: number, sd: number, lo: number, hi: number, users: number, vs: BaselineComparison | null): TableCell => ({
  split: "test",
  slice,
  metric,
  k,
  users,
  seeds: [0, 1],
  perSeed: [mean - sd / Math.SQRT2, mean + sd / Math.SQRT2],
  mean,
  sd,
  ci_low: lo,
  ci_high: hi,
  vsBaseline: vs,
});

describe("experiment tables (ts/schedule/table)", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "lo-table-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("renders mean ± sd [interval] per cell, ▲/▼ against the baseline, the paper's numbers in separate labelled columns", () => {
    const spec: TableSpec = {
      name: "t",
      title: "T",
      paper_source: "Table 9",
      split: "test",
      columns: ["hr@10", "ndcg@10"],
      slices: ["overall", "cold"],
      sets: [],
      seeds: [0, 1],
      baseline: "B",
      file: "/x/t.yaml",
      rows: [
        { label: "A", config: "/x/a.yaml", group: "", paper: [0.1, 0.05] },
        { label: "B", config: "/x/b.yaml", group: "", paper: null },
      ],
    };
    const vs = (difference: number, lo: number, hi: number, p: number): BaselineComparison => ({
      baseline: "B",
      difference,
      ci_low: lo,
      ci_high: hi,
      p_value: p,
      row_better: 30,
      baseline_better: 10,
      significant: lo > 0 || hi < 0,
    });
    const a = [
      cell("overall", "hr", 10, 0.3, 0.01, 0.26, 0.34, 50, vs(0.05, 0.01, 0.09, 0.0012)),
      cell("overall", "ndcg", 10, 0.1, 0.02, 0.08, 0.12, 50, vs(-0.02, -0.05, 0.01, 0.2)),
      cell("cold", "hr", 10, 0.2, 0, 0.1, 0.3, 7, null),
    ];
    const b = [cell("overall", "hr", 10, 0.25, 0.03, 0.2, 0.3, 50, null), cell("overall", "ndcg", 10, 0.12, 0.01, 0.1, 0.14, 50, null)];
    const md = renderTable(spec, [
      { spec: spec.rows[0]!, run: "a", cells: a, ranks: [] },
      { spec: spec.rows[1]!, run: "b", cells: b, ranks: [] },
    ]);
    const lines = md.split("\n");
    expect(md).to.include("mean over 2 training seeds (0, 1)");
    expect(md).to.include("published numbers (Table 9), copied, not recomputed");
    expect(lines).to.include("| Variant | HR@10 ours | NDCG@10 ours | HR@10 paper | NDCG@10 paper | run |");
    expect(lines).to.include("| A | **0.3000** ± 0.0100 [0.260, 0.340] ▲ | 0.1000 ± 0.0200 [0.080, 0.120] | 0.1000 | 0.0500 | `a` |");
    expect(lines).to.include("| B | 0.2500 ± 0.0300 [0.200, 0.300] | **0.1200** ± 0.0100 [0.100, 0.140] | – | – | `b` |");
    expect(md).to.include("## Cold-start targets (few training interactions) (7 users)");
    expect(lines).to.include("| A | **0.2000** ± 0.0000 [0.100, 0.300] | – | `a` |"); // no paper columns for slices
    expect(md).to.include("## Differences from the baseline (B)");
    expect(lines).to.include("| A | overall | **+0.0500** [+0.0100, +0.0900] p = 0.001 (30/10) | −0.0200 [−0.0500, +0.0100] p = 0.200 (30/10) |");
  });

  it("checks row configs exist and paper numbers match the columns, with locations", () => {
    writeFileSync(join(dir, "a.yaml"), "name: a\n");
    writeFileSync(join(dir, "t.yaml"), "name: t\nrows:\n  - {label: A, config: a.yaml, paper: [0.1]}\n  - {label: B, config: nope.yaml}\n");
    let problems: string[] = [];
    try {
      loadTableSpec(join(dir, "t.yaml"), dir);
    } catch (err) {
      problems = (err as ConfigError).problems;
    }
    expect(problems).to.deep.equal([
      "t.yaml:3:39 rows.0.paper: 1 numbers for 4 columns (hr@10, ndcg@10, hr@20, ndcg@20)",
      "t.yaml:4:24 rows.1.config: file not found: nope.yaml",
    ]);
  });

  it("names the baseline key when no row has that label", () => {
    writeFileSync(join(dir, "a.yaml"), "name: a\n");
    writeFileSync(join(dir, "t.yaml"), "name: t\nbaseline: Full\nrows:\n  - {label: A, config: a.yaml}\n");
    expect(() => loadTableSpec(join(dir, "t.yaml"), dir)).to.throw(ConfigError).with.property("problems").that.deep.equals(["t.yaml:2:11 baseline: no row is labelled 'Full' (rows: A)"]);
  });

  it("refuses before any work when two rows share a run name or a row's config is wrong", async () => {
    writeFileSync(join(dir, "a.yaml"), `name: same\ncache_dir: ${join(dir, "cache")}\nranking: popularity\n`);
    writeFileSync(join(dir, "b.yaml"), `name: same\ncache_dir: ${join(dir, "cache")}\nranking: popularity\n`);
    writeFileSync(join(dir, "c.yaml"), "name: c\ntrain: {epochs: 0}\n");
    writeFileSync(join(dir, "t.yaml"), "name: t\nrows:\n  - {label: A, config: a.yaml}\n  - {label: B, config: b.yaml}\n  - {label: C, config: c.yaml}\n");
    let problems: string[] = [];
    try {
      await runTable(join(dir, "t.yaml"), { cwd: dir, reporter: new Reporter({ mode: "json", write: () => {} }), print: () => {} });
    } catch (err) {
      problems = (err as ConfigError).problems;
    }
    expect(problems).to.deep.equal([
      `${join(dir, "t.yaml")}: rows.1 (B) has the run name "same" of "A"; results would overwrite each other`,
      "c.yaml:2:17 train.epochs: must be >= 1, got 0",
    ]);
    expect(existsSync(join(dir, "cache"))).to.equal(false);
  });
});
