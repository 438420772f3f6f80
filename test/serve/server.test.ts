import { readFileSync } from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { tableFromIPC } from "apache-arrow";
import { serveSchemaProblem, startRankingService, type RankingService } from "../../ts/serve/index.js";
import { loadTest } from "../../ts/bench/serve.js";
import { trainedRun, type TrainedRun } from "./fixture.js";

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

async function post(url: string, body: string | object, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(`${url}/recommend`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

function rows(file: string): Record<string, unknown>[] {
  return tableFromIPC(readFileSync(file)).toArray().map((r) => r.toJSON() as Record<string, unknown>);
}

function strings(v: unknown): string[] {
  return Array.from(v as Iterable<string>);
}

describe("serve: HTTP ranking service over a trained run (real worker, real HTTP)", function () {
  this.timeout(120_000);
  let run: TrainedRun;
  let svc: RankingService;
  const events: string[] = [];
  const good = { history: ["v00010", "v00011", "v00012"], k: 5 };

  before(async () => {
    run = await trainedRun();
    svc = await startRankingService({ runDir: run.runDir, overrides: { port: 0, max_k: 30 }, onEvent: (l) => events.push(l) });
  });
  after(async () => {
    await svc?.close();
  });

  async function expectGood(): Promise<void> {
    const r = await post(svc.url, good);
    expect(r.status).to.equal(200);
    expect((r.body.items as unknown[]).length).to.equal(5);
  }

  it("reports its catalogue on GET /health", async () => {
    const res = await fetch(`${svc.url}/health`);
    const body = await res.json();
    expect(res.status).to.equal(200);
    expect(serveSchemaProblem("health.response", body)).to.equal(null);
    expect(body).to.include({ status: "ok", n_items: 40, d_z: 16, taps: 3, max_k: 30 });
    expect(svc.backend.info.tower).to.equal("frozen"); // serve.tower's default; the graph passed its bitwise check
  });

  it("answers every valid-split user exactly as the offline rank op's top-K (concurrent requests)", async () => {
    const valid = rows(path.join(run.splitDir, "valid.arrow"));
    const offline = new Map(
      rows(path.join(run.runDir, "ranks.arrow"))
        .filter((r) => r.split === "valid")
        .map((r) => [r.user as string, strings(r.topk)]),
    );
    const replies = await Promise.all(
      valid.map((u) => post(svc.url, { history: strings(u.history), exclude: strings(u.masked), k: 20 })),
    );
    replies.forEach((r, i) => {
      expect(r.status).to.equal(200);
      expect(serveSchemaProblem("recommend.response", r.body)).to.equal(null);
      const items = (r.body.items as { item: string }[]).map((x) => x.item);
      expect(items, `user ${valid[i]!.user as string}`).to.deep.equal(offline.get(valid[i]!.user as string));
    });
    expect(valid.length).to.equal(80);
    expect(svc.backend.stats.queries).to.be.at.least(80);
  });

  it("returns per-layer gate weights of the returned items when asked", async () => {
    const r = await post(svc.url, { ...good, gates: true });
    expect(r.status).to.equal(200);
    expect(serveSchemaProblem("recommend.response", r.body)).to.equal(null);
    expect(r.body.layers).to.deep.equal([0, 2, 4]);
    for (const it of r.body.items as { gates: number[] }[]) {
      expect(it.gates).to.have.length(3);
      expect(it.gates.reduce((a, b) => a + b, 0)).to.be.closeTo(1, 1e-5);
    }
    const plain = await post(svc.url, good);
    expect((plain.body.items as object[])[0]).to.not.have.property("gates");
    expect(plain.body).to.not.have.property("layers");
  });

  const bad: [string, () => Promise<Reply>, number, RegExp][] = [
    ["malformed JSON", () => post(svc.url, '{"history": ["v00001"'), 400, /body is not valid JSON/],
    ["an empty history", () => post(svc.url, { history: [], k: 5 }), 400, /history: must NOT have fewer than 1 items/],
    ["an overlong history", () => post(svc.url, { history: Array.from({ length: 11 }, (_, i) => `v000${10 + i}`) }), 400, /history has 11 items; at most 10 are allowed/],
    ["k = 0", () => post(svc.url, { ...good, k: 0 }), 400, /k: must be >= 1/],
    ["k above serve.max_k", () => post(svc.url, { ...good, k: 31 }), 400, /k: 31 is out of range 1\.\.30/],
    ["a fractional k", () => post(svc.url, { ...good, k: 2.5 }), 400, /k: must be integer/],
    ["an unknown item id", () => post(svc.url, { history: ["v00001", "no-such-video"] }), 422, /unknown item id\(s\): 'no-such-video'/],
    ["an unknown excluded id", () => post(svc.url, { ...good, exclude: ["ghost"] }), 422, /'ghost'/],
    ["an unknown field", () => post(svc.url, { ...good, user: "u1" }), 400, /user: unknown field/],
    ["a non-string id", () => post(svc.url, { history: [12] }), 400, /history\.0: must be string/],
    ["a JSON array body", () => post(svc.url, "[1,2]"), 400, /body: must be object/],
    ["an oversize body", () => post(svc.url, { history: ["v00001"], exclude: Array.from({ length: 9000 }, (_, i) => `x${i}`) }), 413, /over serve\.max_body_bytes/],
    ["GET on /recommend", async () => { const r = await fetch(`${svc.url}/recommend`); return { status: r.status, body: (await r.json()) as Record<string, unknown> }; }, 405, /use POST/],
    ["an unknown path", async () => { const r = await fetch(`${svc.url}/nope`); return { status: r.status, body: (await r.json()) as Record<string, unknown> }; }, 404, /no such endpoint/],
  ];
  for (const [what, send, status, message] of bad) {
    it(`answers ${what} with ${status} and a clear message, then serves the next good request`, async () => {
      const r = await send();
      expect(r.status).to.equal(status);
      expect(serveSchemaProblem("error", r.body)).to.equal(null);
      const err = r.body.error as { status: number; message: string };
      expect(err.status).to.equal(status);
      expect(err.message).to.match(message);
      await expectGood();
    });
  }

  it("answers a concurrent load with zero errors, ranking batched requests together", async () => {
    const ids = Array.from({ length: 40 }, (_, i) => `v${String(i).padStart(5, "0")}`);
    const before = svc.backend.stats.queries;
    const r = await loadTest(svc.url, svc.backend.workerPid, ids, 8, 240, () => ({ ...svc.backend.stats }));
    expect(r.errors).to.equal(0);
    expect(r.requests).to.equal(240);
    expect(svc.backend.stats.queries - before).to.equal(240);
    expect(r.mean_batch).to.be.at.least(1);
    expect(r.worker_calls).to.be.at.most(240);
  });

  it("replaces a killed worker before the next request is answered, and logs it", async () => {
    const pid = svc.backend.workerPid;
    const restarts = svc.backend.stats.restarts;
    process.kill(pid, "SIGKILL");
    const r = await post(svc.url, good); // whether or not the death was noticed yet, it is answered by the replacement
    expect(r.status, JSON.stringify(r.body)).to.equal(200);
    expect((r.body.items as unknown[]).length).to.equal(5);
    expect(svc.backend.workerPid).to.not.equal(pid);
    expect(svc.backend.stats.restarts).to.equal(restarts + 1);
    expect(events).to.include(`ranking worker pid ${pid} was killed by SIGKILL; replaced by worker pid ${svc.backend.workerPid}`);
  });

  it("replaces a hung worker (alive but silent past its grace) and answers the request that was waiting", async () => {
    const hungEvents: string[] = [];
    const short = await startRankingService({
      runDir: run.runDir,
      overrides: { port: 0, max_k: 30 },
      onEvent: (l) => hungEvents.push(l),
      liveness: { heartbeatS: 0.2, heartbeatTimeoutS: 1, hangGraceS: 1 },
    });
    try {
      const pid = short.backend.workerPid;
      process.kill(pid, "SIGSTOP"); // alive, silent: only the liveness check can tell
      const r = await post(short.url, good);
      expect(r.status, JSON.stringify(r.body)).to.equal(200);
      expect(short.backend.workerPid).to.not.equal(pid);
      expect(hungEvents.some((l) => l.startsWith(`ranking worker pid ${pid} on cpu is alive but sent no heartbeat`)), hungEvents.join("\n")).to.equal(true);
      expect(hungEvents).to.include(`ranking worker pid ${pid} sent no heartbeat for 2.0 s while alive: declared hung; replaced by worker pid ${short.backend.workerPid}`);
    } finally {
      await short.close();
    }
  });
});
