// The ranking backend behind the HTTP front: one Python worker holding the EmbeddingStore and the user
// tower in its op state (op `recommend`, py/linkedout/serve/ops.py), with micro-batching.
//
// Micro-batching: the worker runs one op at a time. Queries that arrive while a call is in flight wait
// and then go together in the next call (up to `maxBatch`): one user-tower pass and one matmul for all
// of them. An idle service therefore answers a lone request at once; a loaded one trades a little
// latency for throughput.
import { startWorker, WorkerError, type WorkerClient } from "../worker/index.js";

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
  /** worker log lines (default: dropped) */
  onLog?: (line: string) => void;
}

export class RankingBackend {
  info!: CatalogueInfo;
  private queue: Waiting[] = [];
  private busy = false;
  private worker!: WorkerClient;
  private restarting: Promise<void> | null = null;
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
    this.worker = await startWorker({
      device: "cpu",
      threads: this.opts.threads,
      onLog: this.opts.onLog ? (line) => this.opts.onLog!(line) : undefined,
    });
    try {
      const r = await this.callWorker([]); // loads the store and the model into the worker's state
      this.info = r;
    } catch (err) {
      await this.worker.close();
      throw err;
    }
  }

  private async callWorker(queries: RecommendQuery[]): Promise<WireResult> {
    const r = await this.worker.call<WireResult>("recommend", {
      run_dir: this.opts.runDir,
      store_dir: this.opts.storeDir,
      max_k: this.opts.maxK,
      refresh_s: this.opts.refreshS,
      queries,
    });
    return r.result;
  }

  /** Rank one query (batched with whatever else is waiting). Rejects only if the worker fails. */
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

  private async run(batch: Waiting[]): Promise<void> {
    try {
      if (this.restarting) await this.restarting;
      const r = await this.callWorker(batch.map((w) => w.query));
      this.info = { model_version: r.model_version, n_items: r.n_items, d_z: r.d_z, taps: r.taps, layers: r.layers };
      this.stats.calls += 1;
      this.stats.queries += batch.length;
      this.stats.maxBatchSeen = Math.max(this.stats.maxBatchSeen, batch.length);
      batch.forEach((w, i) => w.resolve(toOutcome(r.answers[i])));
    } catch (err) {
      const e = err as Error;
      batch.forEach((w) => w.reject(e));
      // A dead worker is replaced so the service stays up; the failed requests get a 503.
      if (err instanceof WorkerError && !this.worker.alive && !this.restarting) {
        this.stats.restarts += 1;
        this.restarting = this.startWorker().finally(() => {
          this.restarting = null;
        });
        this.restarting.catch(() => undefined);
      }
    }
  }

  async close(): Promise<void> {
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
