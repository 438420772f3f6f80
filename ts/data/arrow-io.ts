// Arrow IPC *file* reading/writing for the split and ranks files, written atomically (temp name + rename).
import { readFileSync } from "node:fs";
import { tableFromIPC, tableToIPC, type Table } from "apache-arrow";
import { writeFileAtomic } from "../util/fs.js";
import { DataError } from "./errors.js";

export function writeArrowFile(path: string, table: Table): void {
  writeFileAtomic(path, tableToIPC(table, "file"));
}

/** Read an Arrow IPC file (or stream) and check that the named columns exist. */
export function readArrowFile(path: string, columns: readonly string[] = []): Table {
  let table: Table;
  try {
    table = tableFromIPC(readFileSync(path));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === "ENOENT") throw new DataError(`${path}: no such file`);
    throw new DataError(`${path}: not an Arrow IPC file (${e.message})`);
  }
  const names = table.schema.fields.map((f) => f.name);
  for (const c of columns) {
    if (!names.includes(c)) throw new DataError(`${path}: missing column '${c}' (has: ${names.join(", ") || "none"})`);
  }
  return table;
}
