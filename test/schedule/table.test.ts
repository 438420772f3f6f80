import { expect } from "chai";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../../ts/config/index.js";
import { runTable } from "../../ts/schedule/run.js";
import { Reporter } from "../../ts/schedule/progress.js";
import { loadTableSpec, renderTable, type MetricValue, type TableSpec } from "../../ts/schedule/table.js";

const mv = (slice: string, metric: string, k: number, value: number, users = 50): MetricValue => ({ split: "test", slice, metric, k, value, users });

describe("experiment tables (ts/schedule/table)", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "lo-table-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("renders ours and the paper's numbers in separate labelled columns, best of ours in bold, one table per slice", () => {
    const spec: TableSpec = {
      name: "t",
      title: "T",
      paper_source: "Table 9",
      split: "test",
      columns: ["hr@10", "ndcg@10"],
      slices: ["overall", "cold"],
      sets: [],
      file: "/x/t.yaml",
      rows: [
        { label: "A", config: "/x/a.yaml", group: "", paper: [0.1, 0.05] },
        { label: "B", config: "/x/b.yaml", group: "", paper: null },
      ],
    };
    const md = renderTable(spec, [
      { spec: spec.rows[0]!, run: "a", metrics: [mv("overall", "hr", 10, 0.3), mv("overall", "ndcg", 10, 0.1), mv("cold", "hr", 10, 0.2, 7)] },
      { spec: spec.rows[1]!, run: "b", metrics: [mv("overall", "hr", 10, 0.25), mv("overall", "ndcg", 10, 0.12)] },
    ]);
    const lines = md.split("\n");
    expect(md).to.include("published numbers (Table 9), copied, not recomputed");
    expect(lines).to.include("| Variant | HR@10 ours | NDCG@10 ours | HR@10 paper | NDCG@10 paper | run |");
    expect(lines).to.include("| A | **0.3000** | 0.1000 | 0.1000 | 0.0500 | `a` |");
    expect(lines).to.include("| B | 0.2500 | **0.1200** | – | – | `b` |");
    expect(md).to.include("## Cold-start targets (few training interactions) (7 users)");
    expect(lines).to.include("| A | **0.2000** | – | `a` |"); // no paper columns for slices
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
