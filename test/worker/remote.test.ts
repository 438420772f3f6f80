// Remote workers over CURVE: real `python -m linkedout.worker --keys` processes bound to 127.0.0.1 (never
// any other address), keys written by `lo-exp worker keygen`'s library function, real zeromq.js clients.
import { expect } from "chai";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as zmq from "zeromq";
import {
  connectWorker,
  generateKeys,
  readCertificate,
  serveWorker,
  tensor,
  WorkerError,
  type KeygenResult,
  type ServedWorker,
  type WorkerClient,
} from "../../ts/worker/index.js";
import { loadConfig } from "../../ts/config/index.js";
import { RunResources } from "../../ts/schedule/resources.js";
import { Reporter } from "../../ts/schedule/progress.js";
import { loExpSync, REPO_ROOT } from "../helpers.js";
import { rejection } from "./helpers.js";

describe("remote workers over CURVE", function () {
  this.timeout(60_000);
  let dir: string;
  let server: KeygenResult;
  let client: KeygenResult;
  let served: ServedWorker;
  const logs: string[] = [];

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "lo-remote-"));
    server = generateKeys({ out: path.join(dir, "server"), role: "server" });
    client = generateKeys({ out: path.join(dir, "client"), role: "client" });
    copyFileSync(client.publicFile, path.join(server.clientsDir!, "orchestrator.key"));
    served = await serveWorker({ bind: "tcp://127.0.0.1:*", keys: path.join(dir, "server"), heartbeatS: 0.2, onLog: (l) => logs.push(l) });
  });
  after(async () => {
    await served?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("keygen writes pyzmq-format certificates, secrets 0600, and never overwrites", () => {
    expect(statSync(server.secretFile).mode & 0o777).to.equal(0o600);
    expect(statSync(client.secretFile).mode & 0o777).to.equal(0o600);
    expect(statSync(server.clientsDir!).mode & 0o777).to.equal(0o700);
    const pub = readCertificate(server.publicFile);
    const sec = readCertificate(server.secretFile);
    expect(pub).to.deep.equal({ publicKey: server.publicKey, secretKey: null });
    expect(sec.publicKey).to.equal(server.publicKey);
    expect(sec.secretKey).to.match(/^.{40}$/).and.not.equal(server.publicKey);
    expect(readFileSync(server.secretFile, "utf8")).to.contain(`    public-key = "${server.publicKey}"\n    secret-key = "${sec.secretKey}"\n`);
    // the Python worker read these files: it reports the same public key
    expect(served.serverPublicKey).to.equal(server.publicKey);
    expect(served.clients).to.equal(1);
    expect(() => generateKeys({ out: path.join(dir, "client"), role: "client" })).to.throw(WorkerError, /client\.key: already exists/);
    expect(readCertificate(client.secretFile).secretKey).to.not.equal(sec.secretKey); // fresh keys each time
  });

  it("serves an authorised client: handshake, a tensor round trip over the socket (no shm), progress", async () => {
    expect(served.endpoint).to.match(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    const w = await connectWorker({ endpoint: served.endpoint, serverPublicKey: server.publicFile, clientKeys: client.secretFile });
    try {
      expect(w.remote).to.equal(true);
      expect(w.info.pid).to.equal(served.pid);
      expect(w.pid).to.equal(served.pid);
      expect(w.shmDir).to.equal(null); // another host: every frame on the socket
      // 2 MiB: above the 1 MiB shm threshold a local worker would use
      const n = 512 * 1024;
      const data = new Float32Array(n).map((_, i) => (i % 1000) * 0.125 - 7);
      const seen: number[] = [];
      const r = await w.call("echo", { value: "curve", progress_steps: 3, delay_s: 0.3 }, { frames: [{ name: "x", tensor: tensor("float32", [512, 1024], data) }], onProgress: (p) => seen.push(p.done) });
      expect(r.result.value).to.equal("curve");
      const back = r.tensor("x");
      expect(back.shape).to.deep.equal([512, 1024]);
      expect(Buffer.from((back.data as Float32Array).buffer, (back.data as Float32Array).byteOffset, n * 4).equals(Buffer.from(data.buffer))).to.equal(true);
      expect(seen).to.deep.equal([1, 2, 3]);
    } finally {
      await w.close();
    }
    // closing a remote client only disconnects: the worker still serves the next one
    const again = await connectWorker({ endpoint: served.endpoint, serverPublicKey: server.publicKey, clientKeys: client.secretFile });
    expect((await again.call("ping", {})).result.pong).to.equal(true);
    await again.close();
  });

  it("refuses a client whose key the worker does not list, naming the endpoint and the key", async () => {
    const stranger = zmq.curveKeyPair();
    const t0 = Date.now();
    const err = await rejection(connectWorker({ endpoint: served.endpoint, serverPublicKey: server.publicFile, clientKeys: stranger, connectTimeoutS: 10 }));
    expect(err.type).to.equal("ConnectFailed");
    expect(err.message).to.contain(`remote worker ${served.endpoint} refused the connection: CURVE authentication failed`);
    expect(err.message).to.contain(stranger.publicKey);
    expect(Date.now() - t0).to.be.below(9000); // the handshake failure, not the timeout
    await new Promise((r) => setTimeout(r, 300));
    expect(logs.join("\n")).to.contain(`refused client key ${stranger.publicKey}`);
  });

  it("refuses a plain (non-CURVE) client", async () => {
    const err = await rejection(connectWorker({ endpoint: served.endpoint, connectTimeoutS: 10 }));
    expect(err.type).to.equal("ConnectFailed");
    expect(err.message).to.contain(`remote worker ${served.endpoint} refused the connection`);
    expect(err.message).to.contain("requires CURVE");
  });

  it("a wrong server public key: the worker never answers, and the timeout says why that may be", async () => {
    const err = await rejection(connectWorker({ endpoint: served.endpoint, serverPublicKey: zmq.curveKeyPair().publicKey, clientKeys: client.secretFile, connectTimeoutS: 1.5 }));
    expect(err.type).to.equal("ConnectFailed");
    expect(err.message).to.contain(`remote worker ${served.endpoint} did not answer the handshake within 1.5 s`);
    expect(err.message).to.contain("serverPublicKey is not that worker's key");
  });

  it("never talks without CURVE to a host other than this one, and refuses unreadable keys", async () => {
    // no socket is made: the check comes first
    const err = await rejection(connectWorker({ endpoint: "tcp://192.0.2.1:5555" }));
    expect(err.type).to.equal("KeysInvalid");
    expect(err.message).to.contain("reached only over CURVE");
    const loose = path.join(dir, "loose.key_secret");
    writeFileSync(loose, readFileSync(client.secretFile), { mode: 0o644 });
    const e2 = await rejection(connectWorker({ endpoint: served.endpoint, serverPublicKey: server.publicFile, clientKeys: loose }));
    expect(e2.message).to.equal(`${loose}: mode 0644 lets other users read the secret key; run chmod 600 on it`);
    const e3 = await rejection(connectWorker({ endpoint: served.endpoint, serverPublicKey: server.publicFile, clientKeys: client.publicFile }));
    expect(e3.message).to.contain("holds no secret-key line");
  });

  it("the worker refuses to bind a non-loopback address without --keys (library and CLI)", async () => {
    const err = await rejection(serveWorker({ bind: "tcp://0.0.0.0:5999" }));
    expect(err.type).to.equal("StartFailed");
    expect(err.message).to.contain("--bind tcp://0.0.0.0:5999: without --keys only ipc:// or tcp://127.0.0.1 are allowed");
    const cli = loExpSync(["worker", "--bind", "tcp://0.0.0.0:5999"], REPO_ROOT, 30_000);
    expect(cli.code).to.equal(1);
    expect(cli.stderr.trim().split("\n")).to.have.length(1);
    expect(cli.stderr).to.match(/^lo-exp: worker: the Python worker exited with code 2 before it bound tcp:\/\/0\.0\.0\.0:5999: .*without --keys/);
  });

  it("a config's workers.remote joins the pipeline's pool beside a local worker; calls run on both", async () => {
    const cfgDir = path.join(dir, "cfg");
    const keysRel = path.relative(cfgDir, dir);
    const yaml = [
      "name: remote-test",
      "workers:",
      "  count: 1",
      "  remote:",
      `    - endpoint: ${served.endpoint}`,
      `      server_public_key: ${path.join(keysRel, "server", "server.key")}`, // relative to the config file
      `      client_keys: ${path.join(keysRel, "client", "client.key_secret")}`,
      "",
    ].join("\n");
    mkdirSync(cfgDir);
    writeFileSync(path.join(cfgDir, "c.yaml"), yaml);
    const { config } = await loadConfig(path.join(cfgDir, "c.yaml"));
    expect(config.workers.remote).to.deep.equal([{ endpoint: served.endpoint, server_public_key: server.publicFile, client_keys: client.secretFile }]);
    // mistakes are located, like every config error
    const problem = async (name: string, text: string) => {
      writeFileSync(path.join(cfgDir, name), text);
      return loadConfig(path.join(cfgDir, name)).then(() => "loaded", (e: Error) => e.message);
    };
    expect(await problem("bad1.yaml", yaml.replace(served.endpoint, "gpu1:5555"))).to.contain('bad1.yaml:5:17 workers.remote.0.endpoint: must match ^tcp://[^\\s/]+:[0-9]+$, got "gpu1:5555"');
    expect(await problem("bad2.yaml", yaml.replace("client.key_secret", "nope.key_secret"))).to.contain("bad2.yaml:7:20 workers.remote.0.client_keys: file not found");
    const resources = new RunResources(config.workers, new Reporter({ mode: "json", write: () => undefined }));
    expect(resources.size).to.equal(2);
    try {
      const pool = await resources.pool();
      expect(pool.size).to.equal(2);
      expect(pool.workers.map((w) => w.remote)).to.deep.equal([false, true]);
      const calls = [1, 2, 3, 4].map((i) => pool.call<"echo", { value: number }>("echo", { value: i, delay_s: 0.3 }));
      expect(pool.workers.map((w) => w.inFlight)).to.deep.equal([2, 2]); // least-loaded: both get work
      expect((await Promise.all(calls)).map((r) => r.result.value)).to.deep.equal([1, 2, 3, 4]);
      const pids = await Promise.all(pool.workers.map((w) => w.call<"hello", { pid: number }>("hello", { protocol: 1 })));
      expect(pids.map((r) => r.result.pid)).to.deep.equal([pool.workers[0]!.pid, served.pid]);
    } finally {
      await resources.close();
    }
    // the pool's close left the remote worker running
    const still = await connectWorker({ endpoint: served.endpoint, serverPublicKey: server.publicFile, clientKeys: client.secretFile });
    await still.close();
  });

  it("a remote worker that dies fails pending calls once its heartbeats stop, naming the endpoint", async () => {
    let w: WorkerClient | undefined;
    try {
      w = await connectWorker({ endpoint: served.endpoint, serverPublicKey: server.publicFile, clientKeys: client.secretFile, heartbeatTimeoutS: 1 });
      const pending = rejection(w.call("echo", { delay_s: 30 }));
      await new Promise((r) => setTimeout(r, 300));
      const t0 = Date.now();
      await served.stop(0); // killed: gone without a word, as a host that drops off the network
      const err = await pending;
      expect(err.type).to.equal("WorkerDead");
      expect(err.message).to.match(new RegExp(`^op echo: remote worker ${served.endpoint.replace(/\./g, "\\.")} sent no heartbeat for 1\\.0 s`));
      expect(Date.now() - t0).to.be.below(5000);
      expect(w.alive).to.equal(false);
      expect((await rejection(w.call("ping", {}))).type).to.equal("WorkerDead");
    } finally {
      await w?.close();
    }
  });
});
