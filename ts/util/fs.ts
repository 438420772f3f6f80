// Files that are never seen half-written: write to a temporary name in the same folder, then rename.
import { createHash, randomBytes } from "node:crypto";
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";

/** A temporary name next to `path` (same filesystem, so rename is atomic). */
export function tempNameFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
}

/** Write `data` to `path` atomically (tmp + fsync + rename). */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tempNameFor(path);
  try {
    writeFileSync(tmp, data);
    const fd = openSync(tmp, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Copy a file atomically, skipping the write when the destination already has the same bytes. */
export function copyFileAtomic(src: string, dest: string): boolean {
  const bytes = readFileSync(src);
  if (existsSync(dest)) {
    const old = readFileSync(dest);
    if (old.length === bytes.length && old.equals(bytes)) return false;
  }
  writeFileAtomic(dest, bytes);
  return true;
}

/** JSON with sorted keys, so equal values always hash the same. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(o)
        .sort()
        .filter((k) => o[k] !== undefined)
        .map((k) => [k, sortKeys(o[k])]),
    );
  }
  return v;
}

/** Short content hash (hex) of any JSON-able value. */
export function contentHash(value: unknown, length = 16): string {
  return createHash("sha256").update(canonicalJson(value)).digest("hex").slice(0, length);
}

/** sha256 of a file's bytes (hex). */
export function fileSha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/**
 * The one spelling of a path that stage keys use: absolute, normalised (no `./`, `..` or trailing
 * slash) and, where it exists, with symlinks followed, so `ds/`, `./ds` and a link to it share a cache.
 */
export function canonicalPath(path: string, base = process.cwd()): string {
  const abs = resolve(base, path);
  try {
    return realpathSync(abs);
  } catch {
    return abs;
  }
}
