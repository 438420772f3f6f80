import { expect } from "chai";
import { WorkerPool } from "../../ts/worker/index.js";

describe("WorkerPool", function () {
  this.timeout(60_000);
  it("runs two workers at once and spreads calls over them", async () => {
    const pool = await WorkerPool.start({ count: 2, device: "cpu", threads: 1 });
    try {
      expect(pool.size).to.equal(2);
      expect(new Set(pool.workers.map((x) => x.pid)).size).to.equal(2);
      const calls = [1, 2, 3, 4].map((i) => pool.call("echo", { value: i, delay_s: 0.2 }));
      expect(pool.workers.map((w) => w.inFlight)).to.deep.equal([2, 2]); // least-loaded dispatch
      const rs = await Promise.all(calls);
      expect(rs.map((r) => r.result.value)).to.deep.equal([1, 2, 3, 4]);
      const pids = await Promise.all(pool.workers.map((w) => w.call("hello", { protocol: 1 })));
      expect(pids.map((r) => r.result.pid)).to.deep.equal(pool.workers.map((w) => w.pid));
    } finally {
      await pool.close();
    }
  });
});
