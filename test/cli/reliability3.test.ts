// Issue 22 (reliability round 3) as a new user meets it, through the real CLI: path spellings and the
// cache key, closed pipes, damaged cache entries. Each child runs under a generous timeout that kills it
// and fails the test (a hang).
import { expect } from "chai";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
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
});
