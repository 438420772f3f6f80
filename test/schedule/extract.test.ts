import { expect } from "chai";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ensureBackbonePath,
  extractionKey,
  runExtraction,
  type ExtractionProgress,
  type ExtractItem,
} from "../../ts/schedule/extract.js";
import { WorkerPool } from "../../ts/worker/index.js";
import { configDefaults, type ExtractConfig, type ModelConfig } from "../../ts/config/index.js";

interface Manifest {
  complete: boolean;
  num_shards: number;
  items: number;
  shards: { file: string; rows: number; sha256: string }[];
  failed: { item: string; reason: string }[];
}
const manifestOf = (dir: string): Manifest => JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as Manifest;

// one prompt, one item per generate call, so each 4-item shard is 4 durable batches: a kill lands mid-shard
const DEFAULTS = configDefaults();
const DEFAULT_BACKBONE: ModelConfig = DEFAULTS.model;
const SETTINGS: ExtractConfig = {
  ...DEFAULTS.extract,
  frames: 4,
  prompts: ["Describe this video."],
  merged_tokens: 4,
  max_new_tokens: 3,
  batch_size: 1,
  shard_size: 4,
};

describe("runExtraction (real workers, tiny LLaVA-OneVision)", function () {
  this.timeout(120_000);
  let tmp: string;
  let pool: WorkerPool;
  let modelPath: string;
  let items: ExtractItem[];

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), "lo-extract-"));
    pool = await WorkerPool.start({ count: 2, device: "cpu", threads: 1 });
    modelPath = await ensureBackbonePath(DEFAULT_BACKBONE, join(tmp, "models"), pool.workers[0]!);
    const videos = join(tmp, "videos");
    const specs = Array.from({ length: 10 }, (_, i) => ({
      item: `i${i}`,
      background: [20 * i, 200 - 15 * i, 90],
      foreground: [250, 250, 20 * i],
      shape: (["circle", "square", "triangle", "ring", "cross"] as const)[i % 5]!,
      motion: (["left_right", "up_down", "orbit", "diagonal", "zoom"] as const)[i % 5]!,
      size: 0.2,
      seconds: 1,
    }));
    await pool.workers[1]!.call("render_videos", { videos_dir: videos, covers_dir: join(tmp, "covers"), specs });
    items = specs.map((s, i) => ({ item: s.item, video: join(videos, `${s.item}.mp4`), title: `clip ${i} ${"la ".repeat(i)}` }));
    writeFileSync(join(videos, "empty.mp4"), "");
    writeFileSync(join(videos, "garbage.mp4"), Buffer.alloc(3000, 7));
    items.push({ item: "empty", video: join(videos, "empty.mp4"), title: "" });
    items.push({ item: "garbage", video: join(videos, "garbage.mp4"), title: "" });
    items.push({ item: "novideo", video: "", title: "no file" });
  });

  after(async () => {
    await pool?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("the store key depends on what changes the features, not on batching", () => {
    const k = extractionKey("ds", DEFAULT_BACKBONE, SETTINGS);
    expect(extractionKey("ds", DEFAULT_BACKBONE, { ...SETTINGS, batch_size: 7, shard_size: 9 })).to.equal(k);
    expect(extractionKey("ds", DEFAULT_BACKBONE, { ...SETTINGS, prompts: ["Other."] })).to.not.equal(k);
    expect(extractionKey("ds2", DEFAULT_BACKBONE, SETTINGS)).to.not.equal(k);
    expect(extractionKey("ds", { ...DEFAULT_BACKBONE, path: "/m" }, SETTINGS)).to.not.equal(k);
  });

  it("extracts every item once, bad videos fail with reasons; a rerun skips everything", async () => {
    const store = join(tmp, "clean");
    const events: ExtractionProgress[] = [];
    const r = await runExtraction({ model: DEFAULT_BACKBONE, extract: SETTINGS }, {
      storeDir: store, items, dataset: "t", modelPath, workers: pool, onProgress: (p) => events.push(p),
    });
    expect(r.items).to.equal(13);
    expect(r.extracted).to.equal(10);
    expect(r.shards).to.equal(4);
    expect(r.retries).to.deep.equal([]);
    const reasons = Object.fromEntries(r.failed.map((f) => [f.item, f.reason]));
    expect(Object.keys(reasons).sort()).to.deep.equal(["empty", "garbage", "novideo"]);
    expect(reasons.empty).to.match(/^zero_length: .*empty\.mp4/);
    expect(reasons.garbage).to.match(/^corrupt: /);
    expect(reasons.novideo).to.match(/^missing: /);
    const m = manifestOf(store);
    expect(m.complete).to.equal(true);
    expect(m.items).to.equal(10);
    expect(m.shards.reduce((a, s) => a + s.rows, 0)).to.equal(10);
    const last = events.at(-1)!;
    expect(last.done).to.equal(13);
    expect(events.some((e) => e.rate !== null && e.rate > 0 && e.eta_s !== null)).to.equal(true);
    expect(new Set(events.map((e) => e.pid)).size).to.equal(2); // both workers took shards

    const again = await runExtraction({ model: DEFAULT_BACKBONE, extract: SETTINGS }, { storeDir: store, items, dataset: "t", modelPath, workers: pool });
    expect(again.extracted).to.equal(0);
    expect(again.shardsCached).to.equal(4);
    expect(manifestOf(store)).to.deep.equal(m);
  });

  it("a worker SIGKILLed mid-shard: its shard is retried on another; the store equals the uninterrupted one", async () => {
    const store = join(tmp, "killed");
    let killed: { shard: number; pid: number; finishedAtKill: boolean; partsAtKill: number } | null = null;
    const r = await runExtraction({ model: DEFAULT_BACKBONE, extract: SETTINGS }, {
      storeDir: store,
      items,
      dataset: "t",
      modelPath,
      workers: pool,
      onProgress: (p) => {
        if (!killed && p.shardDone >= 1 && p.shardDone < p.shardTotal && p.shardTotal >= 3) {
          process.kill(p.pid, "SIGKILL");
          const parts = readdirSync(store).filter((f) => f.startsWith(`shard-${p.shard}.part-`)).length;
          killed = { shard: p.shard, pid: p.pid, finishedAtKill: existsSync(join(store, `shard-${p.shard}.arrow`)), partsAtKill: parts };
        }
      },
    });
    expect(killed).to.not.equal(null);
    const k = killed!;
    expect(k.finishedAtKill).to.equal(false);
    expect(k.partsAtKill).to.be.greaterThan(0);
    expect(r.retries.map((x) => [x.shard, x.pid])).to.deep.equal([[k.shard, k.pid]]);
    expect(pool.workers.filter((w) => w.alive).length).to.equal(1);

    const clean = manifestOf(join(tmp, "clean"));
    const resumed = manifestOf(store);
    expect(resumed.complete).to.equal(true);
    // every item exactly once (runExtraction checks it too) and the same bytes shard by shard
    expect(resumed.shards).to.deep.equal(clean.shards);
    expect(resumed.failed).to.deep.equal(clean.failed);
    expect(readdirSync(store).filter((f) => f.includes(".part-"))).to.deep.equal([]);

    // rerun with the surviving worker: nothing left to do
    const again = await runExtraction({ model: DEFAULT_BACKBONE, extract: SETTINGS }, { storeDir: store, items, dataset: "t", modelPath, workers: pool });
    expect(again.extracted).to.equal(0);
    expect(again.shardsCached).to.equal(4);
  });
});
