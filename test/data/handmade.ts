// A hand-made MicroLens directory (12 users) whose split and popularity ranks are worked out by hand
// below. Shared by test/data/*.test.ts and test/metrics/*.test.ts.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Each user's interactions in time order (timestamps assigned below, except u03's). */
export const SEQUENCES: Record<string, string[]> = {
  u01: ["a", "b", "c", "d", "e"], // exactly 5
  u02: ["q", "r", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m"], // 15: q, r fall off
  // u03: written with explicit timestamps (equal ones) below; time order is h, f, g, a, b
  u04: ["c", "d", "e", "f", "c"], // the test target c repeats a history item
  u05: ["s", "t", "a", "b"], // 4: dropped (s, t leave the catalogue)
  u06: ["a", "b", "n", "o", "p"],
  u07: ["n", "o", "p", "a", "b", "c"],
  u08: ["b", "a", "b", "a", "b"],
  u09: ["e", "f", "g", "h", "i", "j"],
  u10: ["m", "l", "k", "j", "i"],
  u11: ["a", "b", "c"], // 3: dropped
  u12: ["p", "o", "n", "m", "l"],
};

/** u03's rows in file order: f and g share a timestamp, so f (earlier in the file) comes first. */
export const U03_ROWS: [string, string, number][] = [
  ["u03", "f", 1000],
  ["u03", "g", 1000],
  ["u03", "h", 900],
  ["u03", "a", 1100],
  ["u03", "b", 1200],
];

export const ALL_ITEMS = "abcdefghijklmnopqrst".split("");

/** Expected, by hand. */
export const EXPECTED = {
  usersIn: 12,
  usersKept: 10,
  itemsIn: 20,
  interactionsIn: 69,
  trainSamples: 40,
  catalogue: "abcdefghijklmnop".split(""),
  trainCount: { a: 5, b: 5, c: 3, d: 2, e: 3, f: 3, g: 3, h: 3, i: 1, j: 1, k: 2, l: 1, m: 1, n: 3, o: 2, p: 2 } as Record<string, number>,
  train: {
    u01: ["a", "b", "c"],
    u02: ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"],
    u03: ["h", "f", "g"],
    u04: ["c", "d", "e"],
    u06: ["a", "b", "n"],
    u07: ["n", "o", "p", "a"],
    u08: ["b", "a", "b"],
    u09: ["e", "f", "g", "h"],
    u10: ["m", "l", "k"],
    u12: ["p", "o", "n"],
  } as Record<string, string[]>,
  /** popularity ranks of the test targets (train_count desc, ties by catalogue index; masked = −∞) */
  popTestRanks: { u01: 1, u02: 4, u03: 1, u04: 13, u06: 8, u07: 1, u08: 16, u09: 9, u10: 12, u12: 12 } as Record<string, number>,
  popValidRanks: { u01: 6, u04: 3 } as Record<string, number>,
};

let root: string | null = null;
/** One temp folder per test process, removed at exit (describe bodies build fixtures even when --grep skips their tests). */
function fixtureRoot(): string {
  if (!root) {
    const r = mkdtempSync(join(tmpdir(), "lo-handmade-"));
    process.once("exit", () => rmSync(r, { recursive: true, force: true }));
    root = r;
  }
  return root;
}

/**
 * Write the pairs csv with rows interleaved across users (not in time order), a titles csv, and a
 * video + cover file for every item (bytes are irrelevant to the loader). Returns the directory.
 */
export function writeHandmade(opts: { variant?: string; titles?: boolean; videos?: boolean; extraCsv?: string } = {}): string {
  const dir = mkdtempSync(join(fixtureRoot(), "d-"));
  const v = opts.variant ?? "50k";
  const rows: [string, string, number][] = [];
  for (const [user, items] of Object.entries(SEQUENCES)) items.forEach((item, k) => rows.push([user, item, 10_000 + 100 * k]));
  rows.push(...U03_ROWS);
  // Interleave: sort by (position-ish timestamp, then user descending) so no user's rows are contiguous,
  // but keep u03's two equal-timestamp rows in their given relative order (f before g).
  const ordered = rows
    .map((r, i) => ({ r, i }))
    .sort((x, y) => x.r[2] - y.r[2] || (x.r[0] < y.r[0] ? 1 : x.r[0] > y.r[0] ? -1 : x.i - y.i))
    .map((x) => x.r);
  writeFileSync(join(dir, `MicroLens-${v}_pairs.csv`), `user,item,timestamp\n${ordered.map((r) => r.join(",")).join("\n")}\n${opts.extraCsv ?? ""}`);
  if (opts.titles !== false) {
    writeFileSync(join(dir, `MicroLens-${v}_titles.csv`), `item,title\n${ALL_ITEMS.map((i) => `${i},"Title ${i}, with comma"`).join("\n")}\n`);
  }
  if (opts.videos !== false) {
    mkdirSync(join(dir, `MicroLens-${v}_videos`));
    mkdirSync(join(dir, `MicroLens-${v}_covers`));
    for (const i of ALL_ITEMS) {
      writeFileSync(join(dir, `MicroLens-${v}_videos`, `${i}.mp4`), "not decoded by the loader");
      writeFileSync(join(dir, `MicroLens-${v}_covers`, `${i}.jpg`), "x");
    }
  }
  return dir;
}
