#!/usr/bin/env node
// Entry point for `npx lo-exp`: registers tsx so the CLI runs from TypeScript source
// (no build step), then hands over to ts/cli/main.ts.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../ts/cli/main.ts");
await main(process.argv.slice(2));
