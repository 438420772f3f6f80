// Strict UTF-8 text reading. A decoder that replaces bad bytes with U+FFFD would turn distinct ids
// (`u\xfe`, `u\xff`) into one and merge them in silence; every user file is read through here instead.
import { isUtf8 } from "node:buffer";
import { readFileSync } from "node:fs";

/** Where a file stops being UTF-8: the byte offset of the first bad sequence and its 1-based line. */
export interface Utf8Fault {
  offset: number;
  line: number;
  byte: number;
}

/** The first invalid UTF-8 sequence in `buf` (WHATWG rules: no overlongs, surrogates or > U+10FFFF), or null. */
export function findUtf8Fault(buf: Uint8Array): Utf8Fault | null {
  if (isUtf8(buf)) return null;
  const n = buf.length;
  let i = 0;
  let line = 1;
  while (i < n) {
    const b = buf[i]!;
    if (b < 0x80) {
      if (b === 0x0a) line += 1;
      i += 1;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f;
    } else return { offset: i, line, byte: b };
    for (let k = 1; k <= need; k++) {
      const c = buf[i + k];
      const ok = c !== undefined && (k === 1 ? c >= lo && c <= hi : c >= 0x80 && c <= 0xbf);
      if (!ok) return { offset: i, line, byte: b };
    }
    i += need + 1;
  }
  return null;
}

/** The one-line message for a fault: `file:line: not UTF-8: byte 0xfe at offset 12 …`. */
export function utf8FaultMessage(path: string, f: Utf8Fault): string {
  return (
    `${path}:${f.line}: not UTF-8: byte 0x${f.byte.toString(16).padStart(2, "0")} at byte offset ${f.offset} ` +
    `(lo-exp reads text files as UTF-8 and never replaces bytes, so distinct ids cannot merge; re-encode the file, e.g. iconv -f latin1 -t utf-8)`
  );
}

/** Thrown by readUtf8File; callers turn it into their own error type with `utf8FaultMessage`. */
export class NotUtf8Error extends Error {
  constructor(
    readonly path: string,
    readonly fault: Utf8Fault,
  ) {
    super(utf8FaultMessage(path, fault));
    this.name = "NotUtf8Error";
  }
}

/** Decode bytes as UTF-8, throwing NotUtf8Error (naming `path`, line and byte offset) at the first bad byte. */
export function decodeUtf8Strict(buf: Uint8Array, path: string): string {
  const fault = findUtf8Fault(buf);
  if (fault) throw new NotUtf8Error(path, fault);
  return new TextDecoder("utf-8", { fatal: true }).decode(buf);
}

/** Read a file as strict UTF-8 (fs errors pass through unchanged). */
export function readUtf8File(path: string): string {
  return decodeUtf8Strict(readFileSync(path), path);
}

/**
 * Why `text` is not JSON, in the user's terms instead of the parser's ("Unexpected end of JSON input"):
 * `empty`, `ends early (truncated?)`, or `invalid JSON at line L, column C`. Call with the error JSON.parse threw.
 */
export function jsonSyntaxProblem(err: unknown, text: string): string {
  if (text.trim() === "") return "empty (no JSON value)";
  const message = err instanceof Error ? err.message : String(err);
  if (/Unexpected end of JSON input|Unterminated string/.test(message)) return "not valid JSON: it ends early (truncated?)";
  const pos = /at position (\d+)/.exec(message);
  const at = pos ? Number(pos[1]) : -1;
  if (at >= 0) {
    const before = text.slice(0, at);
    const line = before.split("\n").length;
    const col = at - before.lastIndexOf("\n");
    return `not valid JSON at line ${line}, column ${col}`;
  }
  return "not valid JSON";
}
