#!/usr/bin/env node
// `npm test`: typecheck, then the TypeScript suite (mocha), then the Python suite (pytest).
// Fails if any step fails; ends with one summary line "N passed, N failed".
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const root = new URL("..", import.meta.url).pathname;
const python = process.env.LINKEDOUT_PYTHON ?? `${root}.venv/bin/python`;
if (!existsSync(python)) {
  console.error(`tests: no Python environment at ${python}; run \`npm run setup\` first.`);
  process.exit(1);
}

function run(name, cmd, args, parse) {
  console.log(`\n=== ${name}: ${cmd} ${args.join(" ")}`);
  const started = Date.now();
  const r = spawnSync(cmd, args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: process.env });
  process.stdout.write(r.stdout ?? "");
  process.stderr.write(r.stderr ?? "");
  const counts = parse ? parse(`${r.stdout}\n${r.stderr}`) : { passed: 0, failed: 0 };
  const ok = r.status === 0;
  console.log(`=== ${name}: ${ok ? "ok" : `FAILED (exit ${r.status ?? r.signal})`} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { ok, ...counts };
}

const num = (text, re) => [...text.matchAll(re)].reduce((s, m) => s + Number(m[1]), 0);
const steps = [
  run("typecheck", `${root}node_modules/.bin/tsc`, ["--noEmit", "-p", "tsconfig.json"]),
  run("mocha", `${root}node_modules/.bin/mocha`, ["test/**/*.test.ts"], (t) => ({
    passed: num(t, /^\s*(\d+) passing/gm),
    failed: num(t, /^\s*(\d+) failing/gm),
  })),
  run("pytest", python, ["-m", "pytest", "-p", "no:cacheprovider"], (t) => {
    const last = t.trim().split("\n").filter((l) => /\b(passed|failed|error)/.test(l)).pop() ?? "";
    return { passed: num(last, /(\d+) passed/g), failed: num(last, /(\d+) failed/g) + num(last, /(\d+) errors?/g) };
  }),
];
const passed = steps.reduce((s, x) => s + x.passed, 0);
const failed = steps.reduce((s, x) => s + x.failed, 0) + steps.filter((s) => !s.ok && s.failed === 0).length;
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(steps.every((s) => s.ok) ? 0 : 1);
