// A small RFC 4180 reader: quoted fields ("" escapes a quote) may hold the delimiter and newlines.
// MicroLens files are plain `a,b,c` lines; only titles need quoting. Unquoted lines take a fast path.

/** One record and the 1-based line it starts on. */
export interface CsvRecord {
  fields: string[];
  line: number;
}

/** Thrown for a quote that is never closed; `line` is where its record starts. */
export class CsvSyntaxError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(message);
  }
}

/** Split `text` into records. A leading BOM is dropped; `\r\n` and `\n` both end a line; blank lines are skipped. */
export function* readCsv(text: string, delimiter = ","): Generator<CsvRecord> {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const n = text.length;
  let pos = 0;
  let line = 1;
  while (pos < n) {
    let end = text.indexOf("\n", pos);
    if (end < 0) end = n;
    const rawEnd = end > pos && text.charCodeAt(end - 1) === 13 ? end - 1 : end;
    const startLine = line;
    const row = text.slice(pos, rawEnd);
    if (!row.includes('"')) {
      pos = end + 1;
      line += 1;
      if (row.length > 0) yield { fields: row.split(delimiter), line: startLine };
      continue;
    }
    // Slow path: walk characters, quotes may span lines.
    const fields: string[] = [];
    let field = "";
    let i = pos;
    let quoted = false;
    let done = false;
    while (!done) {
      if (i >= n) {
        if (quoted) throw new CsvSyntaxError(`unterminated quoted field`, startLine);
        fields.push(field);
        done = true;
        pos = n;
        break;
      }
      const c = text[i]!;
      if (quoted) {
        if (c === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
          } else {
            quoted = false;
            i += 1;
          }
        } else {
          if (c === "\n") line += 1;
          field += c;
          i += 1;
        }
      } else if (c === '"' && field.length === 0) {
        quoted = true;
        i += 1;
      } else if (c === delimiter) {
        fields.push(field);
        field = "";
        i += 1;
      } else if (c === "\n" || (c === "\r" && text[i + 1] === "\n")) {
        fields.push(field);
        done = true;
        pos = c === "\n" ? i + 1 : i + 2;
      } else {
        field += c;
        i += 1;
      }
    }
    line += 1;
    yield { fields, line: startLine };
  }
}

/** Quote a field for CSV output if it needs it. */
export function csvField(value: string, delimiter = ","): string {
  return value.includes(delimiter) || value.includes('"') || value.includes("\n") || value.includes("\r")
    ? `"${value.replaceAll('"', '""')}"`
    : value;
}
