/**
 * Tensor codec: typed arrays <-> Arrow IPC stream bytes in the "tensor" layout of docs/protocol.md.
 *
 * One record batch, one non-null column `data` (flat, primitive), field metadata `shape` (JSON list)
 * and `dtype` (our name). bfloat16 travels as uint16 bits and bool as uint8. Decoding returns typed
 * arrays that view the received bytes when they are aligned (Arrow aligns bodies to 8 bytes).
 */
import {
  Field,
  Float16,
  Float32,
  Float64,
  Int16,
  Int32,
  Int64,
  Int8,
  RecordBatch,
  RecordBatchStreamWriter,
  Schema,
  Struct,
  Table,
  Uint16,
  Uint8,
  makeData,
  tableFromIPC,
  tableToIPC,
  type DataType,
} from "apache-arrow";

export const DTYPES = ["float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"] as const;
export type DType = (typeof DTYPES)[number];

/** Typed array per dtype (float16 and bfloat16 are raw uint16 bits; bool is 0/1 bytes). */
export interface TypedArrayOf {
  float16: Uint16Array;
  bfloat16: Uint16Array;
  float32: Float32Array;
  float64: Float64Array;
  int8: Int8Array;
  int16: Int16Array;
  int32: Int32Array;
  int64: BigInt64Array;
  uint8: Uint8Array;
  bool: Uint8Array;
}
export type TensorData = TypedArrayOf[DType];

/** A dense row-major tensor. */
export interface Tensor<D extends DType = DType> {
  dtype: D;
  shape: number[];
  data: TypedArrayOf[D];
}

/** Thrown for bytes that are not a valid tensor frame. */
export class TensorCodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TensorCodecError";
  }
}

const ARROW_TYPE: { [D in DType]: () => DataType } = {
  float16: () => new Float16(),
  bfloat16: () => new Uint16(),
  float32: () => new Float32(),
  float64: () => new Float64(),
  int8: () => new Int8(),
  int16: () => new Int16(),
  int32: () => new Int32(),
  int64: () => new Int64(),
  uint8: () => new Uint8(),
  bool: () => new Uint8(),
};
const ARRAY_CTOR: { [D in DType]: { new (b: ArrayBufferLike, o: number, n: number): TypedArrayOf[D]; BYTES_PER_ELEMENT: number } } = {
  float16: Uint16Array,
  bfloat16: Uint16Array,
  float32: Float32Array,
  float64: Float64Array,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

export function isDType(x: unknown): x is DType {
  return typeof x === "string" && (DTYPES as readonly string[]).includes(x);
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Build a tensor, checking that the data fits the shape. */
export function tensor<D extends DType>(dtype: D, shape: number[], data: TypedArrayOf[D]): Tensor<D> {
  if (!shape.every((s) => Number.isInteger(s) && s >= 0)) throw new TensorCodecError(`shape ${JSON.stringify(shape)}: sizes must be non-negative integers`);
  if (!(data instanceof ARRAY_CTOR[dtype])) throw new TensorCodecError(`dtype ${dtype} needs a ${ARRAY_CTOR[dtype].name}, got ${data.constructor.name}`);
  if (data.length !== numel(shape)) throw new TensorCodecError(`shape ${JSON.stringify(shape)} needs ${numel(shape)} elements, data has ${data.length}`);
  return { dtype, shape, data };
}

/** The tensor as a one-column Arrow table (views `t.data`). */
export function tensorToTable(t: Tensor): Table {
  const n = numel(t.shape);
  if (t.data.length !== n) throw new TensorCodecError(`shape ${JSON.stringify(t.shape)} needs ${n} elements, data has ${t.data.length}`);
  const type = ARROW_TYPE[t.dtype]();
  const metadata = new Map([
    ["shape", JSON.stringify(t.shape)],
    ["dtype", t.dtype],
  ]);
  const field = new Field("data", type, false, metadata);
  const schema = new Schema([field]);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const column = makeData({ type, length: n, nullCount: 0, data: t.data } as any);
  const struct = makeData({ type: new Struct(schema.fields), length: n, nullCount: 0, children: [column] });
  return new Table([new RecordBatch(schema, struct)]);
}

/** Tensor -> Arrow IPC stream bytes. */
export function encodeTensor(t: Tensor): Uint8Array {
  return tableToIPC(tensorToTable(t), "stream");
}

/**
 * The Arrow IPC stream of a table as chunks, without concatenating: the body chunks are views of the
 * tensor's own memory, so a writer (writev, or one join) copies each byte once.
 */
export async function encodeChunks(table: Table): Promise<Uint8Array[]> {
  const writer = new RecordBatchStreamWriter();
  writer.write(table);
  const chunks: Uint8Array[] = [];
  const drained = (async () => {
    for await (const c of writer) chunks.push(c);
  })();
  writer.close();
  await drained;
  return chunks;
}

/** Arrow table -> Arrow IPC stream bytes ("table" layout). */
export function encodeTable(table: Table): Uint8Array {
  return tableToIPC(table, "stream");
}

/** Arrow IPC stream bytes ("table" layout) -> Table. */
export function decodeTable(bytes: Uint8Array, what = "frame"): Table {
  try {
    return tableFromIPC(bytes);
  } catch (err) {
    throw new TensorCodecError(`${what}: not a readable Arrow IPC stream (${(err as Error).message})`);
  }
}

/** Arrow IPC stream bytes ("tensor" layout) -> Tensor whose data views `bytes` when aligned. */
export function decodeTensor(bytes: Uint8Array, what = "frame"): Tensor {
  let table: Table;
  try {
    table = tableFromIPC(bytes);
  } catch (err) {
    throw new TensorCodecError(`${what}: not a readable Arrow IPC stream (${(err as Error).message})`);
  }
  if (table.batches.length !== 1) throw new TensorCodecError(`${what}: expected exactly one record batch, got ${table.batches.length}`);
  const fields = table.schema.fields;
  if (fields.length !== 1 || fields[0]!.name !== "data") {
    throw new TensorCodecError(`${what}: expected one column named 'data', got [${fields.map((f) => f.name).join(", ")}]`);
  }
  const field = fields[0]!;
  const dtype = field.metadata.get("dtype");
  if (!isDType(dtype)) throw new TensorCodecError(`${what}: field metadata dtype ${JSON.stringify(dtype)} is not one of ${DTYPES.join(", ")}`);
  const want = ARROW_TYPE[dtype]();
  if (field.type.typeId !== want.typeId || String(field.type) !== String(want)) {
    throw new TensorCodecError(`${what}: dtype ${dtype} must travel as Arrow ${want}, got ${field.type}`);
  }
  let shape: unknown;
  try {
    shape = JSON.parse(field.metadata.get("shape") ?? "");
  } catch {
    shape = undefined;
  }
  if (!Array.isArray(shape) || !shape.every((s) => Number.isInteger(s) && s >= 0)) {
    throw new TensorCodecError(`${what}: field metadata shape ${JSON.stringify(field.metadata.get("shape"))} is not a JSON list of sizes`);
  }
  const data = table.batches[0]!.data.children[0]!;
  const n = numel(shape as number[]);
  if (data.length !== n) throw new TensorCodecError(`${what}: shape ${JSON.stringify(shape)} needs ${n} elements, column has ${data.length}`);
  if (data.nullCount > 0) throw new TensorCodecError(`${what}: tensor column has ${data.nullCount} nulls`);
  const values = data.values as TensorData;
  const Ctor = ARRAY_CTOR[dtype];
  if (values.length < n) throw new TensorCodecError(`${what}: column buffer holds ${values.length} elements, shape needs ${n} (truncated?)`);
  const view = values instanceof Ctor ? values.subarray(0, n) : new Ctor(values.buffer, values.byteOffset, n);
  return { dtype, shape: shape as number[], data: view } as Tensor;
}
