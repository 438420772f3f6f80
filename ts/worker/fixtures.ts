/**
 * The shared protocol test vectors (schemas/fixtures/, see py/linkedout/worker/fixtures.py).
 * Regenerate the TypeScript-written tensors with `node --import tsx ts/worker/fixtures.ts`.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { encodeTensor, tensor, type DType, type Tensor, type TypedArrayOf } from "./codec.js";
import { REPO_ROOT } from "./python.js";

export const FIXTURE_DIR = path.join(REPO_ROOT, "schemas", "fixtures");
export const TENSOR_DIR = path.join(FIXTURE_DIR, "tensors");

export interface TensorCase {
  name: string;
  dtype: DType;
  shape: number[];
  values: (number | string)[];
  bits?: number[];
}
export interface InvalidTensorCase {
  name: string;
  type: string;
  mentions: string;
}

export function loadTensorFixtures(): { cases: TensorCase[]; invalid: InvalidTensorCase[] } {
  return JSON.parse(readFileSync(path.join(FIXTURE_DIR, "tensors.json"), "utf8")) as { cases: TensorCase[]; invalid: InvalidTensorCase[] };
}

/** The exact tensor a case describes. */
export function caseTensor(c: TensorCase): Tensor {
  const v = c.values;
  switch (c.dtype) {
    case "float16":
    case "bfloat16":
      return tensor(c.dtype, c.shape, Uint16Array.from(c.bits ?? []));
    case "int64":
      return tensor("int64", c.shape, BigInt64Array.from(v.map((x) => BigInt(x))));
    case "float32":
      return tensor("float32", c.shape, Float32Array.from(v.map(Number)));
    case "float64":
      return tensor("float64", c.shape, Float64Array.from(v.map(Number)));
    case "int32":
      return tensor("int32", c.shape, Int32Array.from(v.map(Number)));
    case "int16":
      return tensor("int16", c.shape, Int16Array.from(v.map(Number)));
    case "int8":
      return tensor("int8", c.shape, Int8Array.from(v.map(Number)));
    case "uint8":
    case "bool":
      return tensor(c.dtype, c.shape, Uint8Array.from(v.map(Number)) as TypedArrayOf["uint8"]);
  }
}

export function writeTsTensorFixtures(): string[] {
  const dir = path.join(TENSOR_DIR, "ts");
  mkdirSync(dir, { recursive: true });
  return loadTensorFixtures().cases.map((c) => {
    const file = path.join(dir, `${c.name}.arrow`);
    writeFileSync(file, encodeTensor(caseTensor(c)));
    return file;
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(`wrote ${writeTsTensorFixtures().length} tensor fixtures under ${path.join(TENSOR_DIR, "ts")}`);
}
