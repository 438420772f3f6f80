#!/usr/bin/env node
// `npm run build` (scripts/setup.sh runs it): bundles the CLI, ts/cli/main.ts, into dist/cli/ for bin/lo-exp.js.
// Why a bundle and not tsc's one-file-per-module output: Node's ESM loader pays per file, and `--help` /
// `config show` load yargs, ajv and yaml (about 150 files). One bundle plus lazily loaded chunks (each
// verb imports its library code inside its handler) starts about 0.1 s faster; docs/benchmarks.md
// "CLI start-up" has the figures. Type checking is `npm run typecheck` (tsc), run by `npm test`.
//
// Only the pure-JavaScript packages the start-up path loads are bundled; every other dependency stays an
// ordinary import from node_modules (zeromq is a native addon, pythonia spawns files from its own folder,
// tsx and the rest are not on the start-up path). dist/cli/ is two folders below the repository root,
// like ts/cli/, so the sources' `../../schemas` and `../../package.json` URLs hold in every chunk.
import { readFileSync, rmSync } from "node:fs";
import { build } from "esbuild";

const root = new URL("..", import.meta.url).pathname;
const BUNDLED = new Set(["yargs", "ajv", "yaml"]);
const pkg = JSON.parse(readFileSync(`${root}package.json`, "utf8"));
const external = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies }).filter((name) => !BUNDLED.has(name));

rmSync(`${root}dist`, { recursive: true, force: true });
await build({
  entryPoints: [`${root}ts/cli/main.ts`],
  outdir: `${root}dist/cli`,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: true,
  external: external.flatMap((name) => [name, `${name}/*`]),
  // ajv is CommonJS: its bundled `require("…")` calls need a real require in an ES module.
  banner: { js: 'import { createRequire as __createRequire } from "node:module"; const require = __createRequire(import.meta.url);' },
  logLevel: "warning",
});
