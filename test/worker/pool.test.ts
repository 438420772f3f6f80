import { expect } from "chai";
import { readdirSync, readFileSync } from "node:fs";
import { WorkerPool } from "../../ts/worker/index.js";
import { rejection } from "./helpers.js";

/** Pids of `python -m linkedout.worker` children of this process (Linux /proc). */
function ourWorkers(): number[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .flatMap((d) => {
      try {
        const stat = readFileSync(`/proc/${d}/stat`, "utf8");
        const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
        return ppid === process.pid && readFileSync(`/proc/${d}/cmdline`, "utf8").includes("linkedout.worker") ? [Number(d)] : [];
      } catch {
        return [];
      }
    });
}

describe("WorkerPool", function () {
  this.timeout(120_000);
  it("runs two workers at once, spreads calls over them, and keeps calls where they may run", async () => {
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
      // where a call may run: local / a device kind; one the pool lacks is refused
      expect((await pool.call("echo", { value: 5 }, { where: "local" })).result.value).to.equal(5);
      expect((await pool.call("echo", { value: 6 }, { where: { device: "cpu" } })).result.value).to.equal(6);
      const e = await rejection(pool.call("echo", { value: 7 }, { where: { device: "cuda" } }));
      expect(e.message).to.equal("op echo: no live cuda worker in the pool");
    } finally {
      await pool.close();
    }
  });

  it("retries a call whose worker is killed on another worker, says so, and replaces the dead one; without attempts the call fails", async () => {
    const lines: string[] = [];
    const pool = await WorkerPool.start({ count: 2, device: "cpu", threads: 1, onLog: (m) => lines.push(m) });
    try {
      const first = pool.call("echo", { value: "again", delay_s: 3 }, { attempts: 2, where: "local" });
      const victim = pool.workers.find((w) => w.inFlight === 1)!;
      process.kill(victim.pid, "SIGKILL");
      expect((await first).result.value).to.equal("again");
      expect(lines.some((l) => l.startsWith(`op echo: worker pid ${victim.pid} on cpu was killed by SIGKILL; attempt 2/2 on another worker`)), lines.join("\n")).to.equal(true);

      // echo is not in IDEMPOTENT_OPS: one try by default
      const once = pool.call("echo", { delay_s: 3 });
      const busy = pool.workers.find((w) => w.inFlight === 1 && w.alive)!;
      process.kill(busy.pid, "SIGKILL");
      const e = await rejection(once);
      expect(e.type).to.equal("WorkerDead");
      expect(e.message).to.match(/^op echo: worker pid \d+ on cpu was killed by SIGKILL while the request was pending/);

      // both dead workers come back: the next calls find two live, new workers
      const rs = await Promise.all([pool.call("ping", {}), pool.call("ping", {})]);
      expect(rs).to.have.length(2);
      for (let i = 0; i < 100 && !pool.workers.every((w) => w.alive); i++) await new Promise((r) => setTimeout(r, 100));
      expect(pool.workers.every((w) => w.alive)).to.equal(true);
      expect(pool.workers.map((w) => w.pid)).to.not.include(victim.pid);
      expect(pool.workers.map((w) => w.pid)).to.not.include(busy.pid);
      expect(lines.filter((l) => /^replaced worker pid \d+ on cpu \(was killed by SIGKILL\) with worker pid \d+$/.test(l))).to.have.length(2);
    } finally {
      await pool.close();
    }
  });

  it("starts a worker again when it is SIGKILLed while starting (before its ready line)", async () => {
    const lines: string[] = [];
    let killed = 0;
    const poll = setInterval(() => {
      if (killed) return;
      const pids = ourWorkers();
      if (pids.length) {
        process.kill(pids[0]!, "SIGKILL"); // within 20 ms of its spawn: still importing torch
        killed = pids[0]!;
      }
    }, 20);
    try {
      const pool = await WorkerPool.start({ count: 1, device: "cpu", onLog: (m) => lines.push(m) });
      try {
        expect(killed).to.be.greaterThan(0);
        expect(pool.workers[0]!.pid).to.not.equal(killed);
        expect((await pool.call("ping", {})).result).to.be.an("object");
        expect(lines.some((l) => /^worker on cpu was killed by SIGKILL (before it was ready|during the handshake).*; starting it again \(attempt 2\/3\)$/.test(l)), lines.join("\n")).to.equal(true);
      } finally {
        await pool.close();
      }
    } finally {
      clearInterval(poll);
    }
  });
});
