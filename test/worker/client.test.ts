import { expect } from "chai";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as zmq from "zeromq";
import { startWorker, tensor, WorkerError, type WorkerClient } from "../../ts/worker/index.js";
import { FIXTURE_DIR, TENSOR_DIR } from "../../ts/worker/fixtures.js";
import { rejection } from "./helpers.js";

interface RequestCase {
  name: string;
  header?: Record<string, unknown>;
  header_text?: string;
  send?: string[];
  fill_bytes?: number;
  send_empty?: number;
  type: string;
  id: string | null;
  mentions: string;
  traceback?: boolean;
}
const requests = JSON.parse(readFileSync(path.join(FIXTURE_DIR, "requests.json"), "utf8")) as { max_message_bytes: number; cases: RequestCase[] };

describe("WorkerClient (real Python worker over ZeroMQ)", function () {
  this.timeout(60_000);
  let w: WorkerClient;
  before(async () => {
    // socket-only frames here; test/worker/shm.test.ts covers shm frames
    w = await startWorker({ device: "cpu", threads: 1, maxMessageBytes: requests.max_message_bytes, shm: false });
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

  it("binds ipc:// in a private 0700 directory", () => {
    expect(w.endpoint).to.match(/^ipc:\/\//);
    const dir = path.dirname(w.endpoint.slice("ipc://".length));
    expect(statSync(dir).mode & 0o777).to.equal(0o700);
  });

  it("round-trips a float32 tensor and a JSON value through echo bit-exactly", async () => {
    const data = new Float32Array(24).map((_, i) => i * 0.5 - 3.25);
    const r = await w.call("echo", { value: { a: [1, "x"] } }, { frames: [{ name: "x", tensor: tensor("float32", [2, 3, 4], data) }] });
    expect(r.result.value).to.deep.equal({ a: [1, "x"] });
    expect(r.result.frames).to.deep.equal([{ name: "x", dtype: "float32", shape: [2, 3, 4] }]);
    const x = r.tensor("x");
    expect(x.dtype).to.equal("float32");
    expect(x.shape).to.deep.equal([2, 3, 4]);
    expect(Array.from(x.data as Float32Array)).to.deep.equal(Array.from(data));
  });

  it("round-trips a 768 KiB tensor over the socket bit-exactly", async () => {
    expect(w.shmDir).to.equal(null);
    const data = Float32Array.from({ length: 3 << 16 }, (_, i) => Math.sin(i));
    const back = (await w.call("echo", {}, { frames: [{ name: "x", tensor: tensor("float32", [3, 1 << 16], data) }] })).tensor("x");
    expect(back.shape).to.deep.equal([3, 1 << 16]);
    expect(Buffer.from(back.data.buffer, back.data.byteOffset, back.data.byteLength).equals(Buffer.from(data.buffer))).to.equal(true);
  });

  it("round-trips bfloat16 bits, int64 and a 0-d tensor", async () => {
    const bf = tensor("bfloat16", [2], Uint16Array.from([0x3f80, 0xc040])); // 1.0, -3.0
    const i64 = tensor("int64", [2], BigInt64Array.from([-(2n ** 63n), 2n ** 53n + 1n]));
    const s = tensor("float64", [], Float64Array.from([Math.PI]));
    const r = await w.call("echo", {}, { frames: [{ name: "bf", tensor: bf }, { name: "i", tensor: i64 }, { name: "s", tensor: s }] });
    expect(r.result.frames).to.deep.equal([
      { name: "bf", dtype: "bfloat16", shape: [2] },
      { name: "i", dtype: "int64", shape: [2] },
      { name: "s", dtype: "float64", shape: [] },
    ]);
    expect(Array.from(r.tensor("bf").data as Uint16Array)).to.deep.equal([0x3f80, 0xc040]);
    expect(Array.from(r.tensor("i").data as BigInt64Array)).to.deep.equal([-(2n ** 63n), 2n ** 53n + 1n]);
    expect(r.tensor("s").shape).to.deep.equal([]);
    expect((r.tensor("s").data as Float64Array)[0]).to.equal(Math.PI);
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

  it("surfaces a handler exception with type, message and traceback", async () => {
    const err = await rejection(w.call("echo", { raise_error: "deliberate" }));
    expect(err.type).to.equal("RuntimeError");
    expect(err.op).to.equal("echo");
    expect(err.message).to.match(/echo.*deliberate/);
    expect(err.traceback).to.match(/Traceback[\s\S]*builtin_ops\.py/);
  });

  it("checks args against the op's schema before sending, naming the field", async () => {
    // @ts-expect-error: a wrong type, sent anyway: the client refuses it at run time too
    const err = await rejection(w.call("echo", { delay_s: "soon" }));
    expect(err.type).to.equal("ArgsInvalid");
    expect(err.message).to.match(/^op echo: args\.delay_s: must be number/);
    expect((await w.call("ping", {})).result.pong).to.equal(true);
  });

  it("refuses an oversize request locally with a clear error, and keeps serving", async () => {
    const big = tensor("uint8", [requests.max_message_bytes + 1], new Uint8Array(requests.max_message_bytes + 1));
    const err = await rejection(w.call("echo", {}, { frames: [{ name: "x", tensor: big }] }));
    expect(err.type).to.equal("MessageTooLarge");
    expect(err.message).to.match(new RegExp(`echo.*over the limit of ${requests.max_message_bytes}`));
    expect((await w.call("ping", {})).result.pong).to.equal(true);
  });

  describe("bad requests from schemas/fixtures/requests.json, sent raw", () => {
    let raw: zmq.Dealer;
    before(() => {
      raw = new zmq.Dealer({ linger: 0 });
      raw.connect(w.endpoint);
    });
    after(() => raw.close());

    async function nextReply(): Promise<Record<string, unknown>> {
      for (;;) {
        const [head] = await raw.receive();
        const msg = JSON.parse(head!.toString()) as Record<string, unknown>;
        if (msg.kind !== "heartbeat" && msg.kind !== "progress") return msg;
      }
    }

    for (const c of requests.cases) {
      it(`${c.name}: error ${c.type} naming the problem, then the worker serves the next call`, async () => {
        const head = c.header_text ?? JSON.stringify(c.header);
        const frames =
          c.fill_bytes !== undefined ? [Buffer.alloc(c.fill_bytes)]
          : c.send_empty !== undefined ? Array.from({ length: c.send_empty }, () => Buffer.alloc(0))
          : (c.send ?? []).map((f) => readFileSync(path.join(TENSOR_DIR, f)));
        await raw.send([head, ...frames]);
        const reply = await nextReply();
        expect(reply.kind).to.equal("error");
        expect(reply.id).to.equal(c.id);
        const error = reply.error as { type: string; message: string; traceback?: string };
        expect(error.type).to.equal(c.type);
        expect(error.message).to.match(new RegExp(c.mentions));
        if (c.traceback) expect(error.traceback).to.match(/Traceback/);
        const after = await w.call("echo", { value: c.name });
        expect(after.result.value).to.equal(c.name);
      });
    }
  });
});

describe("WorkerClient failure detection", function () {
  this.timeout(60_000);

  it("rejects a pending call within 1 s of SIGKILL, naming the op and signal; a new worker then starts", async () => {
    const w = await startWorker({ device: "cpu", threads: 1 });
    const dir = path.dirname(w.endpoint.slice("ipc://".length));
    const pending = w.call("echo", { delay_s: 30 });
    const other = w.call("echo", { value: 2 }); // queued behind it
    await new Promise((r) => setTimeout(r, 300));
    const killedAt = Date.now();
    process.kill(w.pid, "SIGKILL");
    const [e1, e2] = await Promise.all([rejection(pending), rejection(other)]);
    const elapsed = Date.now() - killedAt;
    expect(elapsed).to.be.below(1000);
    for (const e of [e1, e2]) {
      expect(e.type).to.equal("WorkerDead");
      expect(e.op).to.equal("echo");
      expect(e.message).to.match(/op echo: worker pid \d+ on cpu was killed by SIGKILL/);
    }
    expect(w.alive).to.equal(false);
    expect((await rejection(w.call("ping", {}))).message).to.match(/op ping: .*SIGKILL/);
    expect(existsSync(dir)).to.equal(false); // private socket dir cleaned up
    const w2 = await startWorker({ device: "cpu", threads: 1 });
    try {
      expect((await w2.call("echo", { value: "again" })).result.value).to.equal("again");
    } finally {
      await w2.close(); // clean shutdown: the shutdown op, then exit code 0
    }
    expect(await w2.exited).to.deep.equal({ code: 0, signal: null });
  });

  it("warns about a silent worker (frozen with SIGSTOP), then declares it hung after the grace; tcp://127.0.0.1 works too", async () => {
    const warnings: string[] = [];
    const w = await startWorker({ device: "cpu", threads: 1, heartbeatS: 0.2, heartbeatTimeoutS: 1, hangGraceS: 1, endpoint: "tcp://127.0.0.1:0", onWarning: (m) => warnings.push(m) });
    expect(w.endpoint).to.match(/^tcp:\/\/127\.0\.0\.1:[1-9]\d*$/); // the port the worker bound
    expect(w.shmDir).to.equal(null); // shm frames only over ipc:// (same host by construction)
    expect((await w.call("echo", { value: "tcp" })).result.value).to.equal("tcp");
    const pending = w.call("echo", { delay_s: 30 });
    await new Promise((r) => setTimeout(r, 200));
    process.kill(w.pid, "SIGSTOP");
    const e = await rejection(pending);
    expect(e.type).to.equal("WorkerDead");
    expect(e.message).to.match(/op echo: worker pid \d+ on cpu sent no heartbeat for 2\.0 s while alive: declared hung/);
    expect(warnings.some((m) => /worker pid \d+ on cpu is alive but sent no heartbeat for \d+\.\d s; declared hung if still silent after another 1\.0 s/.test(m)), warnings.join("\n")).to.equal(true);
    expect(await w.exited).to.deep.equal({ code: null, signal: "SIGKILL" }); // the client SIGKILLs a hung worker
    expect(w.alive).to.equal(false);
  });

  it("reports a worker that dies before it is ready, with its stderr and exit code", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "lo-fake-py-"));
    const fake = path.join(dir, "python");
    writeFileSync(fake, '#!/bin/sh\necho "ModuleNotFoundError: No module named torch" >&2\nexit 3\n');
    chmodSync(fake, 0o755);
    try {
      const e = await rejection(startWorker({ python: fake }));
      expect(e.type).to.equal("StartFailed");
      expect(e.message).to.match(/exited with code 3 before it was ready/).and.match(/No module named torch/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("pins a GPU worker with CUDA_VISIBLE_DEVICES, and says so when there is no such GPU", async function () {
    const w = await startWorker({ device: "cuda:1" }).catch((e: unknown) => e);
    if (!(w instanceof WorkerError)) {
      // a machine with a GPU at index 1: the worker sees it as cuda:0
      expect((w as WorkerClient).info.device).to.equal("cuda:0");
      await (w as WorkerClient).close();
      return;
    }
    expect(w.type).to.equal("StartFailed");
    expect(w.message).to.match(/--device cuda:0 but torch sees no CUDA device \(CUDA_VISIBLE_DEVICES=1,/);
  });

  it("reports a missing Python environment with the fix", async () => {
    const saved = process.env.LINKEDOUT_PYTHON;
    process.env.LINKEDOUT_PYTHON = "/nonexistent/python";
    try {
      const e = await rejection(startWorker());
      expect(e.type).to.equal("PythonMissing");
      expect(e.message).to.match(/LINKEDOUT_PYTHON=\/nonexistent\/python does not exist/);
    } finally {
      if (saved === undefined) delete process.env.LINKEDOUT_PYTHON;
      else process.env.LINKEDOUT_PYTHON = saved;
    }
  });
});
