#!/usr/bin/env node
// Entry point for `npx lo-exp` (bin/package.json; `npm ci` links it as node_modules/.bin/lo-exp). Runs the
// bundled CLI in dist/cli/ (`npm run build` = scripts/build.mjs, done by scripts/setup.sh)
// when it is at least as new as every file under ts/; otherwise (no build yet, or a source edited since)
// runs the TypeScript source through tsx, which costs about 2 s of start-up per call.
import { existsSync, readdirSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const compiled = `${root}dist/cli/main.js`;

function distIsFresh() {
  if (!existsSync(compiled)) return false;
  const built = statSync(compiled).mtimeMs;
  for (const f of readdirSync(`${root}ts`, { recursive: true })) {
    if (String(f).endsWith(".ts") && statSync(`${root}ts/${f}`).mtimeMs > built) return false;
  }
  return true;
}

let main;
if (process.env.LO_EXP_FROM_SOURCE !== "1" && distIsFresh()) {
  ({ main } = await import(compiled));
} else {
  const { register } = await import("tsx/esm/api");
  register();
  ({ main } = await import("../ts/cli/main.ts"));
}
await main(process.argv.slice(2));
