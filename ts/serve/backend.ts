// The ranking backend behind the HTTP front: one Python worker holding the EmbeddingStore and the user
// tower in its op state (op `recommend`, py/linkedout/serve/ops.py), with micro-batching.
//
// Micro-batching: the worker runs one op at a time. Queries that arrive while a call is in flight wait
// and then go together in the next call (up to `maxBatch`): one user-tower pass and one matmul for all
// of them. An idle service therefore answers a lone request at once; a loaded one trades a little
// latency for throughput.
//
// Faults: a worker that dies, or is declared hung (alive but silent past its grace, see
// ts/worker/liveness.ts), is replaced at once, and the service logs it (onEvent). A request waits for
// the replacement; one whose call the dead worker took is run again on the replacement (ranking is
// read-only), so a lost worker costs time, not an error.
import { startWorker, WorkerError, type StartWorkerOptions, type WorkerClient } from "../worker/index.js";
import type { ServeConfig } from "../config/index.js";

export interface RecommendQuery {
  history: string[];
  k: number;
  exclude: string[];
  gates: boolean;
}

export interface RankedItem {
  item: string;
  score: number;
  gates?: number[];
}

/** One query's outcome: the ranked items, or a refusal with the HTTP status to answer. */
export type QueryOutcome = { ok: true; items: RankedItem[] } | { ok: false; status: number; message: string };

/** What the worker says about the catalogue it serves (every `recommend` reply carries it). */
export interface CatalogueInfo {
  model_version: string;
  n_items: number;
  d_z: number;
  taps: number;
  layers: number[];
  /** the user tower the worker runs (serve.tower; `eager` also where the frozen graph failed its bitwise check) */
  tower: "frozen" | "eager";
  /** present when the worker ranks through the ANN index (serve.index ann, or auto above ann.exact_up_to) */
  index?: AnnIndexInfo;
}

/** The ANN index's state: items in the index, items in the exactly scored delta segment, a rebuild running. */
export interface AnnIndexInfo {
  mode: "ann";
  engine: string;
  n_indexed: number;
  n_delta: number;
  rebuilding: boolean;
  rebuilds: number;
  /** the store was replaced (embed run again) and is being read in the background */
  reloading: boolean;
  reloads: number;
}

interface WireAnswer {
  items?: string[];
  scores?: number[];
  gates?: number[][];
  error?: { status: number; message: string };
}

interface WireResult extends CatalogueInfo {
  answers: WireAnswer[];
  compute_ms: number;
  /** one line each: the index was built, rebuilt (stale) or a background rebuild failed */
  notes?: string[];
}

interface Waiting {
  query: RecommendQuery;
  resolve: (o: QueryOutcome) => void;
  reject: (e: Error) => void;
}

export interface BackendOptions {
  runDir: string;
  storeDir: string;
  maxK: number;
  maxBatch: number;
  refreshS: number;
  threads: number;
  /** serve.tower, serve.index and serve.ann (schemas/config/serve.schema.json) */
  tower: ServeConfig["tower"];
  index: ServeConfig["index"];
  ann: ServeConfig["ann"];
  /** worker log lines (default: dropped) */
  onLog?: (line: string) => void;
  /** the service's own events: a worker replaced, liveness warnings (default: dropped) */
  onEvent?: (line: string) => void;
  /** worker liveness (StartWorkerOptions); defaults as there */
  liveness?: Pick<StartWorkerOptions, "heartbeatS" | "heartbeatTimeoutS" | "hangGraceS">;
}

export class RankingBackend {
  info!: CatalogueInfo;
  private queue: Waiting[] = [];
  private busy = false;
  private worker!: WorkerClient;
  private restarting: Promise<void> | null = null;
  private closing = false;
  /** worker calls made and queries answered (tests and the bench read these) */
  readonly stats = { calls: 0, queries: 0, maxBatchSeen: 0, restarts: 0 };

  private constructor(private readonly opts: BackendOptions) {}

  /** Start the worker and load the store + model (fails here, not on the first request). */
  static async start(opts: BackendOptions): Promise<RankingBackend> {
    const b = new RankingBackend(opts);
    await b.startWorker();
    return b;
  }

  get workerPid(): number {
    return this.worker.pid;
  }

  private async startWorker(): Promise<void> {
    const worker = await startWorker({
      device: "cpu",
      threads: this.opts.threads,
      ...this.opts.liveness,
      onLog: this.opts.onLog ? (line) => this.opts.onLog!(line) : undefined,
      onWarning: (m) => this.opts.onEvent?.(`ranking ${m}`),
    });
    try {
      this.worker = worker;
      this.info = await this.callWorker([]); // loads the store and the model into the worker's state
    } catch (err) {
      await worker.close();
      throw err;
    }
    // replace it as soon as it is lost, not when the next request finds out
    void worker.exited.then(() => {
      if (!this.closing && this.worker === worker) this.replace(worker);
    });
  }

  /** Start a replacement for `dead` (once), logging why. */
  private replace(dead: WorkerClient): Promise<void> {
    if (this.restarting) return this.restarting;
    this.stats.restarts += 1;
    const why = (dead.failure ?? "it stopped").split("\n")[0]!.replace(/^worker pid \d+ on \S+ /, "");
    this.restarting = this.startWorker()
      .then(() => this.opts.onEvent?.(`ranking worker pid ${dead.pid} ${why}; replaced by worker pid ${this.worker.pid}`))
      .catch((err: unknown) => {
        this.opts.onEvent?.(`ranking worker pid ${dead.pid} ${why}; its replacement failed: ${(err as Error).message.split("\n")[0]}`);
        throw err;
      })
      .finally(() => {
        this.restarting = null;
      });
    this.restarting.catch(() => undefined);
    return this.restarting;
  }

  private async callWorker(queries: RecommendQuery[]): Promise<WireResult> {
    const r = await this.worker.call<"recommend", WireResult>("recommend", {
      run_dir: this.opts.runDir,
      store_dir: this.opts.storeDir,
      max_k: this.opts.maxK,
      refresh_s: this.opts.refreshS,
      tower: this.opts.tower,
      index: this.opts.index,
      ann: this.opts.ann,
      threads: this.opts.threads,
      queries,
    });
    for (const note of r.result.notes ?? []) this.opts.onEvent?.(note);
    return r.result;
  }

  /** Rank one query (batched with whatever else is waiting). Rejects only if the worker fails twice. */
  recommend(query: RecommendQuery): Promise<QueryOutcome> {
    return new Promise((resolve, reject) => {
      this.queue.push({ query, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    if (this.busy || this.queue.length === 0) return;
    this.busy = true;
    const batch = this.queue.splice(0, this.opts.maxBatch);
    void this.run(batch).finally(() => {
      this.busy = false;
      this.pump();
    });
  }

  /** A live worker: the current one, or its replacement once started. */
  private async liveWorker(): Promise<void> {
    if (this.restarting) await this.restarting;
    if (!this.worker.alive) await this.replace(this.worker);
  }

  private async run(batch: Waiting[]): Promise<void> {
    try {
      let r: WireResult;
      await this.liveWorker();
      try {
        r = await this.callWorker(batch.map((w) => w.query));
      } catch (err) {
        // its worker died under it: once more on the replacement
        if (!(err instanceof WorkerError && err.type === "WorkerDead") || this.worker.alive) throw err;
        await this.liveWorker();
        r = await this.callWorker(batch.map((w) => w.query));
      }
      this.info = { model_version: r.model_version, n_items: r.n_items, d_z: r.d_z, taps: r.taps, layers: r.layers, tower: r.tower, ...(r.index ? { index: r.index } : {}) };
      this.stats.calls += 1;
      this.stats.queries += batch.length;
      this.stats.maxBatchSeen = Math.max(this.stats.maxBatchSeen, batch.length);
      batch.forEach((w, i) => w.resolve(toOutcome(r.answers[i])));
    } catch (err) {
      batch.forEach((w) => w.reject(err as Error));
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.restarting) await this.restarting.catch(() => undefined);
    await this.worker.close();
  }
}

function toOutcome(a: WireAnswer | undefined): QueryOutcome {
  if (!a) return { ok: false, status: 500, message: "worker returned fewer answers than queries" };
  if (a.error) return { ok: false, status: a.error.status, message: a.error.message };
  const items = a.items ?? [];
  const scores = a.scores ?? [];
  return {
    ok: true,
    items: items.map((item, i) => (a.gates ? { item, score: scores[i]!, gates: a.gates[i]! } : { item, score: scores[i]! })),
  };
}
