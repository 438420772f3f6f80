// `lo-exp serve`: the HTTP JSON ranking service on 127.0.0.1 (node:http), docs/serving.md.
//
//   POST /recommend   body schemas/serve/recommend.request.schema.json  -> recommend.response.schema.json
//   GET  /health      -> health.response.schema.json
//   every error       -> error.schema.json, 4xx for the caller's mistakes, 5xx for ours
//
// A bad request never takes the service down: each is answered on its own and the next one proceeds.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { ServeError } from "./errors.js";
import { WorkerError } from "../worker/index.js";
import { RankingBackend, type BackendOptions, type RecommendQuery } from "./backend.js";
import { checkRunDir, serveSettingsForRun, workersSettingsForRun, type ServeSettings } from "./config.js";
import { serveSchemaProblem } from "./schemas.js";
import { findUtf8Fault, jsonSyntaxProblem } from "../util/text.js";

export interface StartServiceOptions {
  runDir: string;
  /** overrides of the run's `serve` section (e.g. the --port flag) */
  overrides?: Partial<Omit<ServeSettings, "bench">>;
  onLog?: (line: string) => void;
  /** the service's events, e.g. its worker replaced (default: printed to stderr) */
  onEvent?: (line: string) => void;
  /** ranking worker liveness (tests shorten it); defaults of StartWorkerOptions */
  liveness?: BackendOptions["liveness"];
}

export interface RankingService {
  /** http://127.0.0.1:PORT */
  url: string;
  port: number;
  settings: ServeSettings;
  backend: RankingBackend;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Start the worker (loading store + model), then listen. Rejects with a ServeError on a bad run dir. */
export async function startRankingService(opts: StartServiceOptions): Promise<RankingService> {
  const settings: ServeSettings = { ...serveSettingsForRun(opts.runDir), ...opts.overrides };
  const { runDir, storeDir } = checkRunDir(opts.runDir, settings);
  const workers = workersSettingsForRun(opts.runDir);
  let backend: RankingBackend;
  try {
    backend = await RankingBackend.start({
      runDir,
      storeDir,
      maxK: settings.max_k,
      maxBatch: settings.max_batch,
      refreshS: settings.refresh_s,
      threads: settings.threads,
      tower: settings.tower,
      index: settings.index,
      ann: settings.ann,
      onLog: opts.onLog,
      onEvent: opts.onEvent ?? ((line) => console.error(`lo-exp serve: ${line}`)),
      liveness: opts.liveness ?? { heartbeatS: workers.heartbeat_s, heartbeatTimeoutS: workers.heartbeat_timeout_s, hangGraceS: workers.hang_grace_s },
    });
  } catch (err) {
    // e.g. a store made by another model version, a corrupt checkpoint: the worker names the file
    if (err instanceof WorkerError) throw new ServeError(`serve ${opts.runDir}: ${err.message.split("\n")[0]}`);
    throw err;
  }
  const server = http.createServer((req, res) => {
    handle(req, settings, backend).then(
      ({ status, body }) => send(res, status, body),
      (err: Error) => {
        const status = err instanceof HttpError ? err.status : 503;
        const message = err instanceof HttpError ? err.message : `ranking worker failed: ${err.message.split("\n")[0]}`;
        send(res, status, { error: { status, message } });
      },
    );
  });
  server.keepAliveTimeout = 5000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(settings.port, "127.0.0.1", () => resolve());
    });
  } catch (err) {
    await backend.close();
    throw new ServeError(`serve: cannot listen on 127.0.0.1:${settings.port}: ${(err as Error).message}`);
  }
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    settings,
    backend,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await backend.close();
    },
  };
}

async function handle(req: http.IncomingMessage, settings: ServeSettings, backend: RankingBackend): Promise<{ status: number; body: unknown }> {
  const url = new URL(req.url ?? "/", "http://127.0.0.1");
  if (url.pathname === "/health") {
    if (req.method !== "GET") throw new HttpError(405, `${req.method} ${url.pathname}: use GET`);
    const i = backend.info;
    return { status: 200, body: { status: "ok", model_version: i.model_version, n_items: i.n_items, d_z: i.d_z, taps: i.taps, max_k: settings.max_k } };
  }
  if (url.pathname !== "/recommend") throw new HttpError(404, `${url.pathname}: no such endpoint (POST /recommend, GET /health)`);
  if (req.method !== "POST") throw new HttpError(405, `${req.method} /recommend: use POST with a JSON body`);

  const text = await readBody(req, settings.max_body_bytes);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `body is ${jsonSyntaxProblem(err, text)}`);
  }
  const problem = serveSchemaProblem("recommend.request", body); // also fills the defaults in
  if (problem) throw new HttpError(400, problem);
  const query = body as RecommendQuery;
  if (query.k > settings.max_k) throw new HttpError(400, `k: ${query.k} is out of range 1..${settings.max_k} (serve.max_k)`);

  const outcome = await backend.recommend(query);
  if (!outcome.ok) throw new HttpError(outcome.status, outcome.message);
  const out: Record<string, unknown> = { items: outcome.items, model_version: backend.info.model_version };
  if (query.gates) out.layers = backend.info.layers;
  return { status: 200, body: out };
}

function readBody(req: http.IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) over = true; // keep draining so the reply reaches the client
      else chunks.push(c);
    });
    req.on("end", () => {
      if (over) reject(new HttpError(413, `body is ${size} bytes, over serve.max_body_bytes = ${limit}`));
      else {
        // Strict: a replacing decoder would turn a bad byte in an id into U+FFFD and answer about another id.
        const body = Buffer.concat(chunks);
        const fault = findUtf8Fault(body);
        if (fault) reject(new HttpError(400, `body is not UTF-8: byte 0x${fault.byte.toString(16)} at byte offset ${fault.offset}`));
        else resolve(body.toString("utf8"));
      }
    });
    req.on("error", (err) => reject(new HttpError(400, `reading the body failed: ${err.message}`)));
  });
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) });
  res.end(text);
}
