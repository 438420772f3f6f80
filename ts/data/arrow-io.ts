// Arrow IPC *file* reading/writing for the split and ranks files, written atomically (temp name + rename).
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { tableFromIPC, tableToIPC, type Table } from "apache-arrow";
import { DataError } from "./errors.js";

/** Write `data` to `path` via a temp file in the same directory, so a reader never sees half a file. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } finally {
    rmSync(tmp, { force: true });
  }
}

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
