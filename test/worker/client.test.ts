import { expect } from "chai";
import { startWorker, tensor, WorkerPool, type WorkerClient } from "../../ts/worker/index.js";

describe("worker client (real Python worker over ZeroMQ)", function () {
  this.timeout(120_000);
  let w: WorkerClient;
  before(async () => {
    w = await startWorker({ device: "cpu", threads: 1 });
  });
  after(async () => {
    await w?.close();
  });

  it("completes the hello handshake with protocol, pid and versions", () => {
    expect(w.info.protocol).to.equal(1);
    expect(w.info.pid).to.equal(w.pid);
    expect(w.info.device).to.equal("cpu");
    expect(w.info.threads).to.equal(1);
    expect(w.info.versions.torch).to.match(/^\d+\.\d+/);
    expect(w.info.versions.pyarrow).to.match(/^\d+\.\d+/);
  });

  it("round-trips a float32 tensor and JSON value through echo bit-exactly", async () => {
    const data = new Float32Array(24).map((_, i) => i * 0.5 - 3.25);
    const r = await w.call("echo", { value: { a: [1, "x"] } }, { frames: [{ name: "x", tensor: tensor("float32", [2, 3, 4], data) }] });
    expect(r.result.value).to.deep.equal({ a: [1, "x"] });
    expect(r.result.frames).to.deep.equal([{ name: "x", dtype: "float32", shape: [2, 3, 4] }]);
    const x = r.tensor("x");
    expect(x.dtype).to.equal("float32");
    expect(x.shape).to.deep.equal([2, 3, 4]);
    expect(Array.from(x.data as Float32Array)).to.deep.equal(Array.from(data));
  });

  it("computes on the Python side: matmul returns a @ b", async () => {
    const a = tensor("float32", [2, 3], Float32Array.from([1, 2, 3, 4, 5, 6]));
    const b = tensor("float32", [3, 2], Float32Array.from([1, 0, 0, 1, 1, 1]));
    const r = await w.call("matmul", {}, { frames: [{ name: "a", tensor: a }, { name: "b", tensor: b }] });
    expect(r.tensor("c").shape).to.deep.equal([2, 2]);
    expect(Array.from(r.tensor("c").data as Float32Array)).to.deep.equal([4, 5, 10, 11]);
  });

  it("streams progress before the result", async () => {
    const seen: number[] = [];
    const r = await w.call("echo", { progress_steps: 3, delay_s: 0.3 }, { onProgress: (p) => seen.push(p.done) });
    expect(r.frames).to.have.length(0);
    expect(seen.at(-1)).to.equal(3);
    expect(seen.length).to.be.within(1, 3);
  });

  it("runs two workers at once in a pool", async () => {
    const pool = await WorkerPool.start({ count: 2, device: "cpu", threads: 1 });
    try {
      const pids = new Set(pool.workers.map((x) => x.pid));
      expect(pids.size).to.equal(2);
      const rs = await Promise.all([1, 2, 3, 4].map((i) => pool.call("echo", { value: i, delay_s: 0.2 })));
      expect(rs.map((r) => r.result.value)).to.deep.equal([1, 2, 3, 4]);
    } finally {
      await pool.close();
    }
  });
});
