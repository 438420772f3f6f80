// What a finished stage wrote, recorded in its stage.json, and the check that a cache hit still has it.
// A hit is decided on the files, not on stage.json alone: a truncated best.pt or a half-deleted store
// is a miss, recomputed with one line naming the damaged file (docs/running.md, "the cache").
import { createHash } from "node:crypto";
import { closeSync, existsSync, lstatSync, openSync, readdirSync, readFileSync, readSync } from "node:fs";
import { join, sep } from "node:path";
import { writeFileAtomic } from "../util/fs.js";
import { jsonSyntaxProblem, NotUtf8Error, readUtf8File } from "../util/text.js";

/** One file of a stage's output: path relative to the stage folder (with `/`), size, sha256. */
export interface RecordedFile {
  path: string;
  size: number;
  sha256: string;
}

/** Files at most this big are hashed on every cache hit; bigger ones only with `--verify-cache` (their size is always checked). */
export const CHEAP_HASH_BYTES = 1 << 20;

/** How thoroughly a hit is checked: sizes of all files and hashes of small ones, or every hash. */
export type VerifyLevel = "sizes" | "hashes";

export function fileSha256Streaming(path: string): string {
  const h = createHash("sha256");
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.allocUnsafe(4 << 20);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return h.digest("hex");
}

/** Every regular file under `dir` but stage.json and those `mutable` matches, sorted, with size and sha256. */
export function recordOutputs(dir: string, mutable?: RegExp): RecordedFile[] {
  const out: RecordedFile[] = [];
  for (const rel of readdirSync(dir, { recursive: true }).map(String).sort()) {
    const path = rel.split(sep).join("/");
    if (path === "stage.json" || mutable?.test(path)) continue;
    const abs = join(dir, rel);
    const st = lstatSync(abs);
    if (!st.isFile()) continue;
    out.push({ path, size: st.size, sha256: fileSha256Streaming(abs) });
  }
  return out;
}

/** A usable entry's metadata, or why the entry is damaged (one line naming the file), or undefined when there is none. */
export type EntryState = { meta: Record<string, unknown>; recorded: boolean } | { damaged: string } | undefined;

function isRecordedFile(v: unknown): v is RecordedFile {
  if (typeof v !== "object" || v === null) return false;
  const r = v as Record<string, unknown>;
  return typeof r.path === "string" && typeof r.size === "number" && typeof r.sha256 === "string";
}

/**
 * Check the finished folder `dir` against its stage.json. Missing folder or stage.json: no entry. A
 * stage.json that is empty or not the JSON lo-exp writes, a recorded file missing, of another size, or
 * (small files always, all with level "hashes") with another sha256: damaged. Entries made before files
 * were recorded are used as they are (`recorded: false`).
 */
export function inspectEntry(dir: string, level: VerifyLevel): EntryState {
  const f = join(dir, "stage.json");
  if (!existsSync(f)) return undefined;
  if (!lstatSync(f).isFile()) return { damaged: `${f}: a directory, not a file` };
  let text: string;
  try {
    text = readUtf8File(f);
  } catch (err) {
    return { damaged: err instanceof NotUtf8Error ? err.message : `${f}: unreadable (${(err as Error).message})` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { damaged: `${f}: ${text.length === 0 ? "empty (0 bytes)" : jsonSyntaxProblem(err, text)}` };
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return { damaged: `${f}: not a stage record (expected a JSON object)` };
  const rec = parsed as { meta?: unknown; files?: unknown };
  const meta = rec.meta === undefined ? {} : rec.meta;
  if (typeof meta !== "object" || meta === null || Array.isArray(meta)) return { damaged: `${f}: "meta" is not an object` };
  if (rec.files === undefined) return { meta: meta as Record<string, unknown>, recorded: false };
  if (!Array.isArray(rec.files) || !rec.files.every(isRecordedFile)) return { damaged: `${f}: "files" is not a list of {path, size, sha256}` };
  for (const file of rec.files) {
    const abs = join(dir, ...file.path.split("/"));
    let size: number;
    try {
      const st = lstatSync(abs);
      if (!st.isFile()) return { damaged: `${abs}: not a file (recorded as a file of ${file.size} bytes)` };
      size = st.size;
    } catch {
      return { damaged: `${abs}: missing (recorded: ${file.size} bytes)` };
    }
    if (size !== file.size) return { damaged: `${abs}: ${size} bytes, recorded ${file.size} (truncated or changed)` };
    if ((level === "hashes" || file.size <= CHEAP_HASH_BYTES) && fileSha256Streaming(abs) !== file.sha256) {
      return { damaged: `${abs}: content differs from its recorded sha256 (same size, changed bytes)` };
    }
  }
  return { meta: meta as Record<string, unknown>, recorded: true };
}

/**
 * Record the files of a finished entry again after a command changed it in place on purpose
 * (`lo-exp extract --retry-failed` fills in failed items), so the next hit does not read the change as damage.
 */
export function rerecordEntry(dir: string, mutable?: RegExp): void {
  const f = join(dir, "stage.json");
  const rec = JSON.parse(readFileSync(f, "utf8")) as Record<string, unknown>;
  writeFileAtomic(f, `${JSON.stringify({ ...rec, files: recordOutputs(dir, mutable) }, null, 2)}\n`);
}
