import { expect } from "chai";
import { readFileSync } from "node:fs";
import path from "node:path";
import { decodeTensor, encodeTensor, tensor, type Tensor } from "../../ts/worker/codec.js";
import { caseTensor, loadTensorFixtures, TENSOR_DIR } from "../../ts/worker/fixtures.js";

const { cases, invalid } = loadTensorFixtures();
const read = (...p: string[]) => new Uint8Array(readFileSync(path.join(TENSOR_DIR, ...p)));

/** Exact bit patterns as strings (so -0.0 and 0.0 differ, int64 stays exact). */
function bits(t: Tensor): string[] {
  const d = t.data;
  const bytes = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  const size = d.BYTES_PER_ELEMENT;
  return Array.from({ length: d.length }, (_, i) => Buffer.from(bytes.subarray(i * size, (i + 1) * size)).toString("hex"));
}

describe("tensor codec (shared fixtures in schemas/fixtures)", () => {
  for (const c of cases) {
    for (const side of ["py", "ts"]) {
      it(`decodes ${side}/${c.name}.arrow exactly (${c.dtype} ${JSON.stringify(c.shape)})`, () => {
        const t = decodeTensor(read(side, `${c.name}.arrow`));
        const want = caseTensor(c);
        expect(t.dtype).to.equal(c.dtype);
        expect(t.shape).to.deep.equal(c.shape);
        expect(bits(t)).to.deep.equal(bits(want));
      });
    }
    it(`still encodes ${c.name} to the committed ts/ bytes`, () => {
      expect(Buffer.from(encodeTensor(caseTensor(c))).equals(Buffer.from(read("ts", `${c.name}.arrow`)))).to.equal(true);
    });
  }

  it("reads decimal int64 values beyond 2^53 exactly", () => {
    const t = decodeTensor(read("py", "int64_3.arrow"));
    expect(Array.from(t.data as BigInt64Array)).to.deep.equal([-9223372036854775808n, 9007199254740993n, 42n]);
  });

  for (const bad of invalid) {
    it(`rejects invalid/${bad.name}.arrow naming the problem`, () => {
      expect(() => decodeTensor(read("invalid", `${bad.name}.arrow`), "frame 'x'"))
        .to.throw(/frame 'x'/)
        .with.property("message")
        .that.matches(new RegExp(bad.mentions));
    });
  }

  it("decodes as a view of the received bytes (no copy)", () => {
    const src = tensor("float32", [64, 64], new Float32Array(4096).map((_, i) => i));
    const bytes = encodeTensor(src);
    const t = decodeTensor(bytes);
    expect(t.data.buffer).to.equal(bytes.buffer);
    new Float32Array(bytes.buffer, t.data.byteOffset, 4096)[4095] = -7;
    expect((t.data as Float32Array)[4095]).to.equal(-7);
  });

  it("refuses data that does not fit the shape", () => {
    expect(() => tensor("float32", [2, 3], new Float32Array(5))).to.throw(/needs 6 elements/);
    expect(() => tensor("int64", [1], new Float32Array(1) as unknown as BigInt64Array)).to.throw(/BigInt64Array/);
  });
});
