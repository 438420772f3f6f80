// Issue 22 (reliability round 3) as a new user meets it, through the real CLI: path spellings and the
// cache key, closed pipes, damaged cache entries. Each child runs under a generous timeout that kills it
// and fails the test (a hang).
import { expect } from "chai";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const POP = join(REPO, "configs/pop.yaml");

export interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run `lo-exp ARGS` in `cwd`; a child still running after `timeoutMs` is killed and the test fails. */
export function lo(args: string[], cwd: string, timeoutMs = 120_000): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO, "bin/lo-exp.js"), ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`lo-exp ${args.join(" ")}: still running after ${timeoutMs / 1000} s (hang)\n${stderr.slice(-2000)}`));
    }, timeoutMs);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** 24 users × 6 interactions over 12 items: a pairs-only MicroLens folder the popularity config runs on. */
export function pairsOnlyDataset(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const rows = ["user,item,timestamp"];
  for (let u = 0; u < 24; u++) for (let k = 0; k < 6; k++) rows.push(`u${u},i${(u + k) % 12},${1000 * u + k}`);
  writeFileSync(join(dir, "MicroLens-tiny_pairs.csv"), `${rows.join("\n")}\n`);
}

export function popArgs(root: string, dataDir: string, ...more: string[]): string[] {
  return ["run", POP, "--set", "dataset.source=microlens", "--set", `dataset.dir=${dataDir}`, "--set", `cache_dir=${join(root, "cache")}`, "--set", `results_dir=${join(root, "results")}`, ...more];
}

describe("issue 22 through the real CLI", function () {
  this.timeout(300_000);
  let root = "";
  before(() => {
    root = mkdtempSync(join(tmpdir(), "lo-rel3-"));
    pairsOnlyDataset(join(root, "ds"));
    symlinkSync(join(root, "ds"), join(root, "link"));
  });
  after(() => root && rmSync(root, { recursive: true, force: true }));

  it("dataset.dir spelled …/ds, …/ds/, ./ds and through a symlink gives one data-stage key (one cache entry)", async () => {
    for (const spelling of [join(root, "ds"), `${join(root, "ds")}/`, "./ds", "link", `${join(root, "link")}/`]) {
      const r = await lo(popArgs(root, spelling), root);
      expect(r.code, r.stderr).to.equal(0);
    }
    expect(readdirSync(join(root, "cache", "data")).filter((d) => !d.startsWith("."))).to.have.length(1);
    expect(readdirSync(join(root, "cache", "split")).filter((d) => !d.startsWith("."))).to.have.length(1);
  });

  /** Every `.lock` or `.partial` entry left under the cache. */
  const leftovers = () =>
    readdirSync(join(root, "cache"), { recursive: true })
      .map(String)
      .filter((p) => /\.(lock|partial)$/.test(p));

  it("`lo-exp run --json | head -n 1` (a real shell pipe) exits quietly, finishes the run, leaves no lock or .partial", async () => {
    const args = popArgs(root, join(root, "ds"), "--force", "all", "--json").map((a) => `'${a}'`).join(" ");
    const r = spawnSync("bash", ["-c", `node '${join(REPO, "bin/lo-exp.js")}' ${args} 2>'${join(root, "err.txt")}' | head -n 1; echo "rc=\${PIPESTATUS[0]}" >&2`], {
      cwd: root,
      encoding: "utf8",
      timeout: 120_000,
    });
    expect(r.stdout.trim().split("\n")).to.have.length(1);
    expect(JSON.parse(r.stdout).event).to.equal("run_start");
    expect(r.stderr.trim()).to.match(/^rc=(0|141)$/);
    expect(readFileSync(join(root, "err.txt"), "utf8")).to.not.match(/EPIPE|internal error|\bat \S+ \(/);
    expect(leftovers()).to.deep.equal([]);
  });

  for (const stream of ["stdout", "stderr"] as const) {
    it(`${stream} closed before lo-exp writes a byte: the run still finishes (results written), exit 0, no lock or .partial`, async () => {
      const started = Date.now();
      const json = stream === "stdout" ? ["--json"] : [];
      const child = spawn(process.execPath, [join(REPO, "bin/lo-exp.js"), ...popArgs(root, join(root, "ds"), "--force", "all", ...json)], {
        cwd: root,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let other = "";
      // Close our end of the real pipe at once: every write lo-exp makes to it fails with EPIPE.
      child[stream].destroy();
      (stream === "stdout" ? child.stderr : child.stdout).on("data", (d: Buffer) => (other += d.toString()));
      const code = await new Promise<number | null>((resolve, reject) => {
        const timer = setTimeout(() => (child.kill("SIGKILL"), reject(new Error("hang"))), 120_000);
        child.on("exit", (c) => (clearTimeout(timer), resolve(c)));
      });
      expect(code, other).to.be.oneOf([0, 141]);
      expect(other).to.not.match(/EPIPE|internal error/);
      expect(leftovers()).to.deep.equal([]);
      // --force all recomputed the last stage: its cache folder was renamed into place after we closed the pipe.
      const metrics = readdirSync(join(root, "cache", "metrics")).filter((d) => !d.startsWith("."));
      expect(metrics).to.have.length(1);
      expect(statSync(join(root, "cache", "metrics", metrics[0]!)).ctimeMs).to.be.greaterThan(started);
    });
  }
});
