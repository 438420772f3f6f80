// Fast builders/readers for the utf8 and list<utf8> columns of the split and ranks files. The generic
// apache-arrow paths (vectorFromArray, row proxies) cost seconds at MicroLens-100k scale; these build
// and read the offset/value buffers directly.
import { Field, List, makeData, makeVector, Utf8, type Data, type Table, type Vector } from "apache-arrow";

function utf8Data(values: readonly string[]): Data<Utf8> {
  const offsets = new Int32Array(values.length + 1);
  let bytes = 0;
  for (let i = 0; i < values.length; i++) {
    bytes += Buffer.byteLength(values[i]!, "utf8");
    offsets[i + 1] = bytes;
  }
  // One allocation, strings written in place (no per-string Buffer).
  const data = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < values.length; i++) data.write(values[i]!, offsets[i]!, "utf8");
  return makeData({ type: new Utf8(), length: values.length, nullCount: 0, valueOffsets: offsets, data: new Uint8Array(data.buffer, data.byteOffset, bytes) });
}

/** A utf8 column without nulls. */
export function utf8Vector(values: readonly string[]): Vector<Utf8> {
  return makeVector(utf8Data(values));
}

/** A list<utf8> column (child field "item", non-null) without nulls. */
export function utf8ListVector(lists: readonly (readonly string[])[]): Vector<List<Utf8>> {
  const offsets = new Int32Array(lists.length + 1);
  const flat: string[] = [];
  lists.forEach((l, i) => {
    for (const x of l) flat.push(x);
    offsets[i + 1] = flat.length;
  });
  const type = new List(new Field("item", new Utf8(), false));
  return makeVector(makeData({ type, length: lists.length, nullCount: 0, valueOffsets: offsets, child: utf8Data(flat) }));
}

const asciiCache = new WeakMap<Uint8Array, string | null>();

/** The whole values buffer as one string when it is pure ASCII (then byte offsets = string offsets). */
function asciiText(values: Uint8Array): string | null {
  let text = asciiCache.get(values);
  if (text !== undefined) return text;
  text = null;
  let ascii = true;
  for (let i = 0; i < values.length; i++) {
    if (values[i]! >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) text = Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString("latin1");
  asciiCache.set(values, text);
  return text;
}

function decodeUtf8Chunk(d: Data<Utf8>, from: number, to: number, out: string[]): void {
  const offsets = d.valueOffsets as Int32Array;
  const values = d.values as Uint8Array;
  const text = asciiText(values);
  if (text !== null) {
    for (let i = from; i < to; i++) out.push(text.slice(offsets[d.offset + i]!, offsets[d.offset + i + 1]!));
    return;
  }
  const buf = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  for (let i = from; i < to; i++) out.push(buf.toString("utf8", offsets[d.offset + i]!, offsets[d.offset + i + 1]!));
}

/** Every value of a utf8 column (nulls read as ""). */
export function readUtf8Column(table: Table, name: string): string[] {
  const col = table.getChild(name);
  if (!col) throw new RangeError(`no column '${name}'`);
  const out: string[] = [];
  for (const d of col.data as Data<Utf8>[]) {
    if (!(d.type instanceof Utf8)) throw new TypeError(`column '${name}' is ${d.type}, expected Utf8`);
    const start = out.length;
    decodeUtf8Chunk(d, 0, d.length, out);
    if (d.nullCount > 0) for (let i = 0; i < d.length; i++) if (!d.getValid(i)) out[start + i] = "";
  }
  return out;
}

/** Every value of a list<utf8> column (null lists read as []). */
export function readUtf8ListColumn(table: Table, name: string): string[][] {
  const col = table.getChild(name);
  if (!col) throw new RangeError(`no column '${name}'`);
  const out: string[][] = [];
  for (const d of col.data as Data<List<Utf8>>[]) {
    if (!(d.type instanceof List) || !(d.type.children[0]?.type instanceof Utf8)) throw new TypeError(`column '${name}' is ${d.type}, expected List<Utf8>`);
    const offsets = d.valueOffsets as Int32Array;
    const child = d.children[0] as Data<Utf8>;
    for (let i = 0; i < d.length; i++) {
      const row: string[] = [];
      if (d.nullCount === 0 || d.getValid(i)) decodeUtf8Chunk(child, offsets[d.offset + i]!, offsets[d.offset + i + 1]!, row);
      out.push(row);
    }
  }
  return out;
}

/** Every value of an integer column as numbers (int32 or int64). */
export function readIntColumn(table: Table, name: string): number[] {
  const col = table.getChild(name);
  if (!col) throw new RangeError(`no column '${name}'`);
  const out: number[] = [];
  for (const d of col.data) {
    const values = d.values as Int32Array | BigInt64Array | Uint32Array;
    for (let i = 0; i < d.length; i++) {
      const v = values[d.offset + i]!;
      out.push(d.nullCount > 0 && !d.getValid(i) ? Number.NaN : Number(v));
    }
  }
  return out;
}
