// `npm run gen:rooms`: the room tables of docs/architecture.md, generated from docs/rooms.json — the one
// place the import rules are written. test/imports.test.ts and py/tests/test_package_imports.py enforce
// the same file, and test/imports.test.ts fails when the tables in the doc differ from what it generates.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const ROOMS_FILE = join(ROOT, "docs", "rooms.json");
export const ARCHITECTURE_FILE = join(ROOT, "docs", "architecture.md");

export interface Room {
  room: string;
  /** how the doc names it when not `<room>/` */
  label?: string;
  holds: string;
  may_import: string[];
}
export interface RoomRules {
  root: string;
  rooms: Room[];
}
export type Language = "typescript" | "python";

export function loadRooms(file = ROOMS_FILE): Record<Language, RoomRules> {
  return JSON.parse(readFileSync(file, "utf8")) as Record<Language, RoomRules>;
}

/** room → the rooms it may import. */
export function mayImport(rules: RoomRules): Map<string, readonly string[]> {
  return new Map(rules.rooms.map((r) => [r.room, r.may_import]));
}

const HEADERS: Record<Language, string> = {
  typescript: "| TypeScript room | holds | may import |",
  python: "| Python room (`py/linkedout/…`) | holds | may import |",
};

function table(language: Language, rules: RoomRules): string {
  const name = (r: Room) => r.label ?? (language === "typescript" ? `\`${rules.root}/${r.room}/\`` : `\`${r.room}/\``);
  const rows = rules.rooms.map((r) => `| ${name(r)} | ${r.holds} | ${r.may_import.length ? r.may_import.join(", ") : "–"} |`);
  return [HEADERS[language], "|---|---|---|", ...rows].join("\n");
}

const begin = (language: Language) => `<!-- rooms:${language} — generated from docs/rooms.json by \`npm run gen:rooms\`; edit that file -->`;
const end = (language: Language) => `<!-- /rooms:${language} -->`;

/** `doc` with the text between each language's markers replaced by the table docs/rooms.json gives. */
export function withRoomTables(doc: string, rooms = loadRooms()): string {
  let out = doc;
  for (const language of ["typescript", "python"] as const) {
    const a = out.indexOf(begin(language));
    const b = out.indexOf(end(language));
    if (a < 0 || b < a) throw new Error(`${ARCHITECTURE_FILE}: the markers ${begin(language)} … ${end(language)} are missing`);
    out = `${out.slice(0, a)}${begin(language)}\n${table(language, rooms[language])}\n${out.slice(b)}`;
  }
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(ARCHITECTURE_FILE, withRoomTables(readFileSync(ARCHITECTURE_FILE, "utf8")));
  console.log(`wrote the room tables of ${ARCHITECTURE_FILE}`);
}
