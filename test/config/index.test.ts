import { expect } from "chai";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, configToYaml, loadConfig, showSource, sourceOf } from "../../ts/config/index.js";
import { SCHEMA_DIR } from "../../ts/config/schema.js";
import { loExpSync } from "../helpers.js";


/**
 * A copy of the real schemas with a few section keys that exercise path checks, enums and required
 * keys, whether or not the section owners have filled theirs in yet.
 */
function schemaVariant(root: string): string {
  const dir = join(root, "schemas");
  cpSync(SCHEMA_DIR, dir, { recursive: true });
  const patch = (section: string, props: Record<string, unknown>, required: string[] = []) => {
    const f = join(dir, "config", `${section}.schema.json`);
    const s = JSON.parse(readFileSync(f, "utf8"));
    s.properties = { ...s.properties, ...props };
    if (required.length) s.required = [...new Set([...(s.required ?? []), ...required])];
    writeFileSync(f, JSON.stringify(s, null, 2));
  };
  patch(
    "dataset",
    {
      t_source: { type: "string", enum: ["synthetic", "microlens"], description: "test: where data comes from" },
      t_dir: { type: "string", "x-path": "dir", default: "", description: "test: dataset folder" },
      t_limit: { type: ["integer", "null"], default: null, description: "test: nullable int" },
    },
    ["t_source"],
  );
  patch("model", {
    t_path: { type: "string", "x-path": "dir-or-hub-id", default: "", description: "test: model dir or hub id" },
    t_taps: { type: "array", items: { type: "integer" }, default: [], description: "test: list" },
  });
  return dir;
}

/** A section as plain keys: the variant's test keys are not in the generated types. */
const keysOf = (section: object): Record<string, unknown> => Object.fromEntries(Object.entries(section));

/** The error lines a load produces (asserts it did fail with a ConfigError). */
async function errorsOf(file: string, opts: { sets?: string[]; cwd: string; schemaDir: string }): Promise<string[]> {
  try {
    await loadConfig(file, opts);
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error(`expected ${file} to fail`);
}

describe("config loader (ts/config)", () => {
  let root: string;
  let schemaDir: string;
  const write = (rel: string, text: string) => {
    const p = join(root, rel);
    mkdirSync(join(p, ".."), { recursive: true });
    writeFileSync(p, text);
    return p;
  };

  before(() => {
    root = mkdtempSync(join(tmpdir(), "lo-config-"));
    schemaDir = schemaVariant(root);
    mkdirSync(join(root, "data", "ml"), { recursive: true });
    mkdirSync(join(root, "models", "tiny"), { recursive: true });
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it("fills schema defaults, merges extends, applies typed --set, and records sources", async () => {
    write("base/base.yaml", ["name: base", "dataset:", "  t_source: synthetic", "  t_dir: ../data/ml", "workers:", "  count: 3", ""].join("\n"));
    write("exp/child.yaml", ["extends: ../base/base.yaml", "name: child", "workers:", "  threads: 2", ""].join("\n"));
    const loaded = await loadConfig("exp/child.yaml", {
      cwd: root,
      schemaDir,
      sets: ["model.t_taps=[0, 4, 8]", "dataset.t_limit=5", "name=123"],
    });
    const c = loaded.config;
    expect(c.name).to.equal("123"); // a string key keeps the text
    expect(c.workers).to.deep.equal({ count: 3, devices: [], threads: 2, heartbeat_s: 1, heartbeat_timeout_s: 20, hang_grace_s: 60, max_attempts: 3, remote: [] });
    expect(c.dataset).to.deep.include({ t_source: "synthetic", t_limit: 5 });
    // relative to base/base.yaml, the file that set it — not to the child or the cwd
    expect(keysOf(c.dataset).t_dir).to.equal(join(root, "data", "ml"));
    expect(keysOf(c.model).t_taps).to.deep.equal([0, 4, 8]);
    expect(c.extends).to.equal("");
    expect(loaded.chain).to.deep.equal([join(root, "exp/child.yaml"), join(root, "base/base.yaml")]);
    expect(showSource(sourceOf(loaded.sources, "workers.count"), root)).to.equal("base/base.yaml:6:10");
    expect(showSource(sourceOf(loaded.sources, "workers.threads"), root)).to.equal("exp/child.yaml:4:12");
    expect(showSource(sourceOf(loaded.sources, "workers.devices"), root)).to.equal("default");
    expect(showSource(sourceOf(loaded.sources, "model.t_taps.1"), root)).to.equal("--set model.t_taps=[0, 4, 8]");
    const yaml = configToYaml(loaded, { sources: true, cwd: root });
    expect(yaml).to.include("count: 3 # base/base.yaml:6:10");
    expect(yaml).to.include("threads: 2 # exp/child.yaml:4:12");
  });

  it("treats a bare org/name model value as a hub id and an existing folder as a path", async () => {
    write("hub.yaml", "dataset: {t_source: synthetic}\nmodel: {t_path: llava-hf/llava-onevision-qwen2-7b-ov-hf}\n");
    const hub = await loadConfig("hub.yaml", { cwd: root, schemaDir });
    expect(keysOf(hub.config.model).t_path).to.equal("llava-hf/llava-onevision-qwen2-7b-ov-hf");
    write("local.yaml", "dataset: {t_source: synthetic}\nmodel: {t_path: models/tiny}\n");
    const local = await loadConfig("local.yaml", { cwd: root, schemaDir });
    expect(keysOf(local.config.model).t_path).to.equal(join(root, "models", "tiny"));
  });

  // The ten kinds of mistakes the issue lists; each must give exactly one line with its location.
  const cases: { kind: string; files: Record<string, string>; sets?: string[]; line: string }[] = [
    {
      kind: "wrong type",
      files: { "e1.yaml": "dataset: {t_source: synthetic}\nworkers:\n  count: two\n" },
      line: 'e1.yaml:3:10 workers.count: must be integer, got string "two"',
    },
    {
      kind: "unknown key (with did you mean)",
      files: { "e2.yaml": "dataset: {t_source: synthetic}\nworkers:\n  thread: 2\n" },
      line: 'e2.yaml:3:3 workers.thread: unknown key (did you mean "threads"?)',
    },
    {
      kind: "bad enum",
      files: { "e3.yaml": "dataset:\n  t_source: microlenz\n" },
      line: 'e3.yaml:2:13 dataset.t_source: must be one of "synthetic", "microlens", got "microlenz"',
    },
    {
      kind: "missing required",
      files: { "e4.yaml": "name: x\ndataset:\n  t_dir: ''\n" },
      line: "e4.yaml:2:1 dataset.t_source: required key is missing",
    },
    {
      kind: "bad extends",
      files: { "e5.yaml": "extends: nowhere/base.yaml\n" },
      line: "e5.yaml:1:10 extends: file not found: nowhere/base.yaml",
    },
    {
      kind: "cycle in extends",
      files: { "e6a.yaml": "extends: e6b.yaml\n", "e6b.yaml": "name: b\nextends: e6a.yaml\n" },
      line: "e6b.yaml:2:10 extends: cycle e6a.yaml → e6b.yaml → e6a.yaml",
    },
    {
      kind: "bad --set path",
      files: { "e7.yaml": "dataset: {t_source: synthetic}\n" },
      sets: ["workers.cuont=2"],
      line: '--set workers.cuont=2 workers.cuont: unknown key (did you mean "workers.count"?)',
    },
    {
      kind: "nonexistent dataset dir",
      files: { "e8.yaml": "dataset:\n  t_source: microlens\n  t_dir: data/missing\n" },
      line: "e8.yaml:3:10 dataset.t_dir: directory not found: data/missing",
    },
    {
      kind: "nonexistent model path",
      files: { "e9.yaml": "dataset: {t_source: synthetic}\nmodel:\n  t_path: ./models/nope\n" },
      line: "e9.yaml:3:11 model.t_path: directory not found: models/nope",
    },
    {
      kind: "zero workers",
      files: { "e10.yaml": "dataset: {t_source: synthetic}\nworkers: {count: 0}\n" },
      line: "e10.yaml:2:18 workers.count: must be >= 1, got 0",
    },
    {
      kind: "invalid YAML",
      files: { "e11.yaml": "name: a\nname: b\n" },
      line: "e11.yaml:2:1: invalid YAML: Map keys must be unique",
    },
    {
      kind: "wrong type from --set",
      files: { "e12.yaml": "dataset: {t_source: synthetic}\n" },
      sets: ["workers.threads=many"],
      line: '--set workers.threads=many workers.threads: must be integer, got string "many"',
    },
    {
      kind: "nullable int given a string",
      files: { "e13.yaml": "dataset: {t_source: synthetic, t_limit: lots}\n" },
      line: 'e13.yaml:1:41 dataset.t_limit: must be integer or null, got string "lots"',
    },
    {
      kind: "a whole section of the wrong shape",
      files: { "e14.yaml": "dataset: {t_source: synthetic}\nworkers: 4\n" },
      line: "e14.yaml:2:10 workers: must be object, got number 4",
    },
  ];
  for (const c of cases) {
    it(`reports ${c.kind} as one located line`, async () => {
      const paths = Object.keys(c.files).map((name) => write(name, c.files[name]!));
      const problems = await errorsOf(Object.keys(c.files)[0]!, { cwd: root, schemaDir, sets: c.sets ?? [] });
      expect(problems).to.deep.equal([c.line]);
      expect(paths.length).to.be.greaterThan(0);
    });
  }

  it("reports several independent mistakes, one line each", async () => {
    write("multi.yaml", "dataset: {t_source: synthetic}\nworkers:\n  count: 0\n  thraeds: 2\n");
    const problems = await errorsOf("multi.yaml", { cwd: root, schemaDir });
    expect(problems).to.have.members([
      'multi.yaml:4:3 workers.thraeds: unknown key (did you mean "threads"?)',
      "multi.yaml:3:10 workers.count: must be >= 1, got 0",
    ]);
  });

  it("validates the repository's own schema (defaults only) and `lo-exp config show` prints it", () => {
    const cfg = write("plain.yaml", "name: plain\nworkers: {count: 2}\n");
    const ok = loExpSync(["config", "show", cfg, "--set", "workers.threads=2", "--sources"], root);
    expect(ok.code, ok.stderr).to.equal(0);
    const out = ok.stdout;
    expect(out).to.include("name: plain # plain.yaml:1:7");
    expect(out).to.include("count: 2 # plain.yaml:2:18");
    expect(out).to.include("threads: 2 # --set workers.threads=2");
    const bad = loExpSync(["config", "show", cfg, "--set", "workers.count=0"], root);
    expect(bad.code).to.equal(1);
    expect(bad.stderr.trim()).to.equal("lo-exp: --set workers.count=0 workers.count: must be >= 1, got 0");
  });
});
