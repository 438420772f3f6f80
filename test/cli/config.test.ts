// `lo-exp config show` / `lo-exp run` as a user meets them: real CLI processes, the real schemas,
// the ten kinds of config mistakes from issue #6, each one line with its location and exit code 1.
import { expect } from "chai";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loExp, REPO_ROOT } from "../helpers.js";


describe("config errors through the CLI (lo-exp config show / run)", function () {
  this.timeout(120_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "lo-cli-config-"));
    mkdirSync(join(dir, "data"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const cases: { kind: string; files: Record<string, string>; args: (f: string) => string[]; line: string }[] = [
    {
      kind: "wrong type",
      files: { "c1.yaml": "name: c1\ntrain:\n  epochs: ten\n" },
      args: (f) => ["config", "show", f],
      line: 'c1.yaml:3:11 train.epochs: must be integer, got string "ten"',
    },
    {
      kind: "unknown key",
      files: { "c2.yaml": "recommender:\n  poolng: mean\n" },
      args: (f) => ["config", "show", f],
      line: 'c2.yaml:2:3 recommender.poolng: unknown key (did you mean "pooling"?)',
    },
    {
      kind: "bad enum",
      files: { "c3.yaml": "recommender:\n  pooling: max\n" },
      args: (f) => ["config", "show", f],
      line: 'c3.yaml:2:12 recommender.pooling: must be one of "compressor", "mean", "last_token", got "max"',
    },
    {
      kind: "missing required (experiment table row without its config)",
      files: { "t4.yaml": "name: t4\nrows:\n  - label: only a label\n" },
      args: (f) => ["run", f],
      line: "t4.yaml:3:5 rows.0.config: required key is missing",
    },
    {
      kind: "bad extends",
      files: { "c5.yaml": "extends: base/missing.yaml\nname: c5\n" },
      args: (f) => ["config", "show", f],
      line: "c5.yaml:1:10 extends: file not found: base/missing.yaml",
    },
    {
      kind: "cycle in extends",
      files: { "c6.yaml": "extends: c6b.yaml\n", "c6b.yaml": "extends: c6.yaml\n" },
      args: (f) => ["config", "show", f],
      line: "c6b.yaml:1:10 extends: cycle c6.yaml → c6b.yaml → c6.yaml",
    },
    {
      kind: "bad --set path",
      files: { "c7.yaml": "name: c7\n" },
      args: (f) => ["config", "show", f, "--set", "train.lr.rankr=1e-3"],
      line: '--set train.lr.rankr=1e-3 train.lr.rankr: unknown key (did you mean "train.lr.ranker"?)',
    },
    {
      kind: "nonexistent dataset dir",
      files: { "c8.yaml": "dataset:\n  source: microlens\n  dir: data/MicroLens-100k\n" },
      args: (f) => ["run", f],
      line: "c8.yaml:3:8 dataset.dir: directory not found: data/MicroLens-100k",
    },
    {
      kind: "nonexistent model path",
      files: { "c9.yaml": "model:\n  path: ./models/llava-7b\n" },
      args: (f) => ["run", f],
      line: "c9.yaml:2:9 model.path: directory not found: models/llava-7b",
    },
    {
      kind: "zero workers",
      files: { "c10.yaml": "workers: {count: 0}\n" },
      args: (f) => ["run", f],
      line: "c10.yaml:1:18 workers.count: must be >= 1, got 0",
    },
  ];

  it("gives one located line for each of the ten kinds of mistakes", async () => {
    for (const c of cases) for (const [name, text] of Object.entries(c.files)) writeFileSync(join(dir, name), text);
    const results = await Promise.all(cases.map((c) => loExp(c.args(Object.keys(c.files)[0]!), dir)));
    results.forEach((r, i) => {
      const c = cases[i]!;
      expect(r.stderr, c.kind).to.equal(`lo-exp: ${c.line}\n`);
      expect(r.code, c.kind).to.equal(1);
      expect(r.stdout, c.kind).to.equal("");
    });
  });

  it("shows a config whose data is not here yet, with a note naming the missing path", async () => {
    // issue #13: `config show configs/microlens-100k/linkedout.yaml` lists the taps before MicroLens is downloaded
    const r = await loExp(["config", "show", join(REPO_ROOT, "configs/microlens-100k/linkedout.yaml"), "--json"], dir);
    expect(r.code).to.equal(0);
    expect((JSON.parse(r.stdout) as { extract: { taps: number[] } }).extract.taps).to.deep.equal([0, 4, 8, 12, 16, 20]);
    expect(r.stderr).to.match(/^lo-exp: note: \S*configs\/microlens-100k\/linkedout\.yaml:\d+:\d+ dataset\.dir: directory not found: /);
    expect(r.stderr.trim().split("\n")).to.have.length(1);
  });

  it("prints the resolved config of a good file, with sources", async () => {
    writeFileSync(join(dir, "ok.yaml"), "name: ok\ntrain:\n  epochs: 3\n");
    const r = await loExp(["config", "show", "ok.yaml", "--sources", "--set", "workers.count=2"], dir);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.include("epochs: 3 # ok.yaml:3:11");
    expect(r.stdout).to.include("count: 2 # --set workers.count=2");
    expect(r.stdout).to.include("batch_size: 256 # default");
  });
});
