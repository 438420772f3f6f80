// Read one YAML config file into plain data plus the file:line:col of every key and value, so
// schema errors can point at the exact spot.
import { NotUtf8Error, readUtf8File } from "../util/text.js";
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node } from "yaml";

export interface SourceLoc {
  file: string;
  line: number;
  col: number;
}

/** Where a key's value came from. */
export type ValueSource =
  | { kind: "file"; key: SourceLoc; value: SourceLoc }
  | { kind: "set"; arg: string }
  | { kind: "default" };

/** Dot-joined key path → source. Array elements use their index: `extract.prompts.1`. */
export type SourceMap = Map<string, ValueSource>;

export interface ParsedYaml {
  data: Record<string, unknown>;
  sources: SourceMap;
}

/** Thrown for problems located in a file; the loader turns these into one-line CLI errors. */
export class LocatedProblem extends Error {
  constructor(
    readonly where: string,
    readonly keyPath: string,
    readonly problem: string,
  ) {
    super(keyPath ? `${where} ${keyPath}: ${problem}` : `${where}: ${problem}`);
  }
}

export function joinPath(path: readonly (string | number)[]): string {
  return path.join(".");
}

export function parseYamlFile(file: string, display: string): ParsedYaml {
  let text: string;
  try {
    text = readUtf8File(file);
  } catch (err) {
    if (err instanceof NotUtf8Error) throw new LocatedProblem(`${display}:${err.fault.line}`, "", `not UTF-8: byte 0x${err.fault.byte.toString(16)} at byte offset ${err.fault.offset} (save the config as UTF-8)`);
    const code = (err as NodeJS.ErrnoException).code;
    throw new LocatedProblem(display, "", code === "ENOENT" ? "file not found" : `cannot read: ${(err as Error).message}`);
  }
  // An empty file is most often one truncated to nothing; `{}` says "all defaults" on purpose.
  if (text.trim() === "") throw new LocatedProblem(display, "", "empty file (a config needs at least one key; write `{}` for all defaults)");
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const loc = (offset: number): SourceLoc => ({ file: display, ...lineCounter.linePos(offset) });
  const firstError = doc.errors[0];
  if (firstError) {
    const { line, col } = lineCounter.linePos(firstError.pos[0]);
    const msg = firstError.message.split("\n")[0];
    throw new LocatedProblem(`${display}:${line}:${col}`, "", `invalid YAML: ${msg}`);
  }
  const sources: SourceMap = new Map();
  const contents = doc.contents;
  if (contents === null || (isScalar(contents) && contents.value === null)) return { data: {}, sources };
  if (!isMap(contents)) {
    const at = loc(contents.range?.[0] ?? 0);
    throw new LocatedProblem(`${display}:${at.line}:${at.col}`, "", "a config must be a mapping of keys to values");
  }
  walk(contents, [], loc, sources);
  let data: Record<string, unknown>;
  try {
    data = doc.toJS({ maxAliasCount: 100 }) as Record<string, unknown>;
  } catch (err) {
    // The yaml library bounds alias expansion ("billion laughs"); that is the file's doing, not a bug.
    throw new LocatedProblem(display, "", `invalid YAML: ${(err as Error).message.split("\n")[0]} (more than 100 alias expansions; write the values out instead of nesting *aliases)`);
  }
  return { data, sources };
}

function walk(node: Node, path: (string | number)[], loc: (o: number) => SourceLoc, out: SourceMap): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      if (!isPair(pair)) continue;
      const keyNode = pair.key as Node | null;
      const key = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
      const keyLoc = loc(keyNode?.range?.[0] ?? node.range?.[0] ?? 0);
      const valueNode = pair.value as Node | null;
      const valueLoc = valueNode?.range ? loc(valueNode.range[0]) : keyLoc;
      const p = [...path, key];
      out.set(joinPath(p), { kind: "file", key: keyLoc, value: valueLoc });
      if (valueNode) walk(valueNode, p, loc, out);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      const n = item as Node | null;
      const at = loc(n?.range?.[0] ?? node.range?.[0] ?? 0);
      const p = [...path, i];
      out.set(joinPath(p), { kind: "file", key: at, value: at });
      if (n) walk(n, p, loc, out);
    });
  }
}
