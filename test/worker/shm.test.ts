import { expect } from "chai";
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { ShmPool, checkName } from "../../ts/worker/shm.js";
import { startWorker, tensor, type Tensor, type WorkerClient } from "../../ts/worker/index.js";
import { caseTensor, loadTensorFixtures } from "../../ts/worker/fixtures.js";
import { encodeChunks, tensorToTable, decodeTensor } from "../../ts/worker/codec.js";

const bytesOf = (t: Tensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);

describe("ShmPool", () => {
  it("keeps files in a private 0700 directory and reuses them", async () => {
    const pool = ShmPool.create(undefined, 1 << 20);
    try {
      expect(statSync(pool.dir).mode & 0o777).to.equal(0o700);
      const t = tensor("int32", [1000], Int32Array.from({ length: 1000 }, (_, i) => i * 7));
      const chunks = await encodeChunks(tensorToTable(t));
      const slot = pool.acquire(0);
      const n = pool.write(slot, chunks);
      expect(decodeTensor(pool.read(slot.name, n)).data).to.deep.equal(t.data);
      pool.release(slot);
      expect(pool.acquire(100).name).to.equal(slot.name); // the same file comes back
      pool.release(slot);
      // a smaller stream into the bigger file: read back only its own bytes
      const small = tensor("uint8", [3], Uint8Array.from([1, 2, 3]));
      const again = pool.acquire(10);
      const m = pool.write(again, await encodeChunks(tensorToTable(small)));
      expect(Array.from(decodeTensor(pool.read(again.name, m)).data as Uint8Array)).to.deep.equal([1, 2, 3]);
      expect(statSync(path.join(pool.dir, again.name)).size).to.equal(n); // pages kept, not truncated
    } finally {
      pool.close();
    }
    expect(existsSync(pool.dir)).to.equal(false);
  });

  it("deletes files beyond its byte budget instead of pooling them", async () => {
    const pool = ShmPool.create(undefined, 1000);
    try {
      const slot = pool.acquire(0);
      pool.write(slot, [new Uint8Array(4000)]);
      pool.release(slot);
      expect(readdirSync(pool.dir)).to.deep.equal([]);
    } finally {
      pool.close();
    }
  });

  it("accepts only plain file names", () => {
    expect(checkName("s-1.arrow")).to.equal("s-1.arrow");
    expect(() => checkName("../x")).to.throw(/not a plain file name/);
    expect(() => checkName(".hidden")).to.throw(/not a plain file name/);
  });
});

describe("shm frames through a real worker", function () {
  this.timeout(60_000);
  let w: WorkerClient;
  before(async () => {
    w = await startWorker({ device: "cpu", threads: 1, shmMinBytes: 0 }); // every frame via /dev/shm
  });
  after(async () => {
    const dir = w.shmDir;
    await w.close();
    expect(dir && existsSync(dir)).to.equal(false);
  });

  it("uses a private shm directory", () => {
    expect(w.shmDir).to.be.a("string");
    expect(statSync(w.shmDir!).mode & 0o777).to.equal(0o700);
  });

  it("round-trips every fixture tensor bit-exactly through shm files", async () => {
    const { cases } = loadTensorFixtures();
    const frames = cases.map((c) => ({ name: c.name, tensor: caseTensor(c) }));
    const r = await w.call("echo", {}, { frames });
    for (const c of cases) {
      const back = r.tensor(c.name);
      expect(back.dtype, c.name).to.equal(c.dtype);
      expect(back.shape, c.name).to.deep.equal(c.shape);
      expect(bytesOf(back).equals(bytesOf(caseTensor(c))), c.name).to.equal(true);
    }
    expect(readdirSync(w.shmDir!).length).to.be.greaterThan(0); // frames really went through files
  });

  it("computes on shm inputs and returns shm outputs repeatedly (files reused)", async () => {
    const n = 512;
    const a = tensor("float32", [n, n], Float32Array.from({ length: n * n }, (_, i) => (i % 7) - 3));
    const eye = tensor("float32", [n, n], Float32Array.from({ length: n * n }, (_, i) => (Math.floor(i / n) === i % n ? 2 : 0)));
    let filesAfterFirst = 0;
    for (let k = 0; k < 4; k++) {
      const r = await w.call("matmul", {}, { frames: [{ name: "a", tensor: a }, { name: "b", tensor: eye }] });
      const c = r.tensor("c").data as Float32Array;
      expect(c.length).to.equal(n * n);
      expect(c.every((v, i) => v === 2 * (a.data as Float32Array)[i]!)).to.equal(true);
      if (k === 0) filesAfterFirst = readdirSync(w.shmDir!).length;
    }
    // steady state: pooled files are reused, not one new file per call
    expect(readdirSync(w.shmDir!).length).to.equal(filesAfterFirst);
  });

  it("round-trips a 3 MiB tensor bit-exactly", async () => {
    const t = tensor("float32", [3 << 18], Float32Array.from({ length: 3 << 18 }, (_, i) => Math.sin(i)));
    const back = (await w.call("echo", {}, { frames: [{ name: "x", tensor: t }] })).tensor("x");
    expect(bytesOf(back).equals(bytesOf(t))).to.equal(true);
  });
});
