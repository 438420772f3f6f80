// Helpers for the CLI tests of issue 22: run lo-exp as a child process, a tiny pairs-only dataset.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loExp, REPO_ROOT, type Ran } from "../helpers.js";

export type { Ran };
const POP = join(REPO_ROOT, "configs/pop.yaml");

/** `loExp` (test/helpers.ts) with an environment of its own (e.g. TMPDIR) for the child. */
export function lo(args: string[], cwd: string, timeoutMs = 120_000, env: NodeJS.ProcessEnv = process.env): Promise<Ran> {
  return loExp(args, cwd, timeoutMs, env);
}

/** 24 users × 6 interactions over 12 items: a pairs-only MicroLens folder the popularity config runs on. */
export function pairsOnlyDataset(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const rows = ["user,item,timestamp"];
  for (let u = 0; u < 24; u++) for (let k = 0; k < 6; k++) rows.push(`u${u},i${(u + k) % 12},${1000 * u + k}`);
  writeFileSync(join(dir, "MicroLens-tiny_pairs.csv"), `${rows.join("\n")}\n`);
}

export function popArgs(root: string, dataDir: string, ...more: string[]): string[] {
  return configArgs(POP, root, dataDir, ...more);
}

export function configArgs(config: string, root: string, dataDir: string, ...more: string[]): string[] {
  return ["run", config, "--set", "dataset.source=microlens", "--set", `dataset.dir=${dataDir}`, "--set", `cache_dir=${join(root, "cache")}`, "--set", `results_dir=${join(root, "results")}`, ...more];
}

