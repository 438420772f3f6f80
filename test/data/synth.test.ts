import { expect } from "chai";
import { execa } from "execa";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  loadMicroLens,
  officialSplit,
  planSynthetic,
  readSplit,
  resolveSynthOptions,
  splitDataset,
  synthCsvs,
  synthesizeDataset,
  warningTotal,
  type CatalogueItem,
  type RenderWorker,
  type SynthProgress,
} from "../../ts/data/index.js";
import { computeMetrics, metricsFromRanks, popularityRanks, type RankRow } from "../../ts/metrics/index.js";
import { startWorker, type WorkerClient } from "../../ts/worker/index.js";

const sha = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

describe("data/synth: the synthetic MicroLens-format dataset", function () {
  this.timeout(120_000);
  let worker: WorkerClient;
  let root = "";
  const small = { preset: "tiny" as const, users: 80, items: 36, seed: 7 };

  before(async () => {
    root = mkdtempSync(join(tmpdir(), "lo-synth-"));
    worker = await startWorker({ device: "cpu", threads: 1 });
  });
  after(async () => {
    await worker?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it("a WorkerClient is a RenderWorker", () => {
    const w: RenderWorker = worker; // compile-time check that the op client fits the interface
    expect(w).to.equal(worker);
  });

  it("same seed twice: identical CSVs and identical video bytes; the loader sees zero warnings", async () => {
    const progress: SynthProgress[] = [];
    const a = await synthesizeDataset({ ...small, out: join(root, "a"), chunk: 10 }, worker, (p) => progress.push(p));
    const b = await synthesizeDataset({ ...small, out: join(root, "b") }, worker);
    for (const f of ["pairsCsv", "pairsTsv", "titles", "side"] as const) expect(sha(a.files[f]), f).to.equal(sha(b.files[f]));
    const videos = readdirSync(a.files.videos).sort();
    expect(videos).to.have.length(36);
    for (const v of videos) expect(sha(join(a.files.videos, v)), v).to.equal(sha(join(b.files.videos, v)));
    expect(readdirSync(a.files.covers)).to.have.length(36);
    expect(a.videos!.rendered).to.equal(36);
    expect(progress.filter((p) => p.stage === "videos").at(-1)).to.deep.equal({ stage: "videos", done: 36, total: 36 });

    const ds = loadMicroLens(a.dir);
    expect(ds.variant).to.equal("synth");
    expect(warningTotal(ds)).to.equal(0);
    expect(ds.interactions).to.have.length(a.counts.interactions);
    expect(ds.videos.size).to.equal(36);
    expect(ds.titles.size).to.equal(36);
    // The .tsv form carries the same sequences as the .csv.
    const tsv = loadMicroLens(a.dir, { pairs: "tsv" });
    const seqs = (xs: typeof ds.interactions) => {
      const m = new Map<string, string[]>();
      [...xs].sort((p, q) => p.timestamp - q.timestamp).forEach((x) => m.set(x.user, [...(m.get(x.user) ?? []), x.item]));
      return m;
    };
    expect(seqs(tsv.interactions)).to.deep.equal(seqs(ds.interactions));
  });

  it("the topic can be read back from the decoded frames (median colour → nearest topic colour)", async () => {
    const script = [
      "import sys, json, numpy as np",
      "from pathlib import Path",
      "from linkedout.data.render import decode_frames",
      "d = Path(sys.argv[1]); truth = json.loads((d / 'synth.json').read_text())",
      "bgs = np.array([t['background'] for t in truth['topics']], dtype=np.float32)",
      "right = 0",
      "for it in truth['items']:",
      "    f = decode_frames(d / 'MicroLens-synth_videos' / f\"{it['item']}.mp4\").reshape(-1, 3).astype(np.float32)",
      "    guess = int(np.argmin(np.abs(bgs - np.median(f, axis=0)).sum(axis=1)))",
      "    right += guess == it['topic']",
      "print(json.dumps({'right': right, 'total': len(truth['items'])}))",
    ].join("\n");
    const py = await execa(join(process.cwd(), ".venv", "bin", "python"), ["-c", script, join(root, "b")]);
    expect(JSON.parse(py.stdout)).to.deep.equal({ right: 36, total: 36 });
  });

  it("rerunning with the same options skips finished videos; another seed rewrites everything", async () => {
    const again = await synthesizeDataset({ ...small, out: join(root, "a") }, worker);
    expect(again.videos).to.include({ rendered: 0, skipped: 36 });
    const before = sha(join(root, "a", "MicroLens-synth_pairs.csv"));
    const other = await synthesizeDataset({ ...small, seed: 8, out: join(root, "a") }, worker);
    expect(other.videos).to.include({ rendered: 36, skipped: 0 });
    expect(sha(join(root, "a", "MicroLens-synth_pairs.csv"))).to.not.equal(before);
  });

  it("popularity baseline HR@10 from ts/metrics equals a brute-force hand computation", () => {
    const out = join(root, "b", "split");
    splitDataset(join(root, "b"), out);
    const { path } = popularityRanks(out);
    const m = computeMetrics(path, join(out, "items.arrow"));
    const split = readSplit(out);
    let hits = 0;
    for (const row of split.test) {
      const masked = new Set(row.masked);
      const target = split.items.find((it) => it.item === row.target)!;
      const targetIdx = split.items.indexOf(target);
      const targetScore = masked.has(row.target) ? -Infinity : target.train_count;
      // rank = 1 + #{higher score} + #{equal score and earlier in the catalogue}
      let rank = 1;
      split.items.forEach((it, idx) => {
        const s = masked.has(it.item) ? -Infinity : it.train_count;
        if (s > targetScore || (s === targetScore && idx < targetIdx)) rank += 1;
      });
      if (rank <= 10) hits += 1;
    }
    const overall = m.rows.find((r) => r.split === "test" && r.slice === "overall")!;
    expect(overall.users).to.equal(split.test.length);
    expect(overall.hr[10]).to.equal(hits / split.test.length);
  });

  describe("planted structure (default size, planned without rendering)", () => {
    const options = resolveSynthOptions({ seed: 1 });
    const plan = planSynthetic(options);
    const topicOf = new Map(plan.items.map((it) => [it.item, it.topic]));

    it("has the default size and deterministic CSV bytes", () => {
      expect([plan.users.length, plan.items.length, plan.topics.length]).to.deep.equal([500, 200, 8]);
      expect(synthCsvs(planSynthetic(options))).to.deep.equal(synthCsvs(plan));
      expect(synthCsvs(planSynthetic(resolveSynthOptions({ seed: 2 }))).pairsCsv).to.not.equal(synthCsvs(plan).pairsCsv);
      const lengths = plan.users.map((u) => u.items.length);
      expect(Math.min(...lengths)).to.equal(5);
      expect(Math.max(...lengths)).to.be.at.most(15);
    });

    it("topics are visible: one (colour, shape, motion) per topic, shared by its items' videos", () => {
      const signatures = new Set(plan.topics.map((t) => `${t.shape}/${t.motion}`));
      expect(signatures.size).to.equal(plan.topics.length);
      for (const it of plan.items) {
        const t = plan.topics[it.topic]!;
        expect(it.video.shape).to.equal(t.shape);
        expect(it.video.motion).to.equal(t.motion);
        it.video.background.forEach((c, k) => expect(Math.abs(c - t.background[k]!)).to.be.at.most(16));
      }
    });

    it("most titles name their topic", () => {
      const named = plan.items.filter((it) => plan.topics[it.topic]!.words.some((w) => it.title.includes(w)));
      expect(named.length / plan.items.length).to.be.within(0.7, 0.9);
      expect(plan.items.filter((it) => it.titleNamesTopic)).to.have.length(named.length);
    });

    it("users stay in their 1-2 topics, and their next topic follows their cycle", () => {
      let inPrefs = 0;
      let total = 0;
      let lastFollowsCycle = 0;
      for (const u of plan.users) {
        expect(u.topics.length).to.be.within(1, 2);
        u.items.forEach((i) => {
          total += 1;
          if (u.topics.includes(topicOf.get(i)!)) inPrefs += 1;
        });
        // the cycle is periodic: the last item's topic equals the topic one cycle-length earlier
        const n = u.items.length;
        if (topicOf.get(u.items[n - 1]!) === topicOf.get(u.items[n - 1 - u.cycle.length]!)) lastFollowsCycle += 1;
      }
      expect(inPrefs / total).to.be.greaterThan(0.85);
      expect(lastFollowsCycle / plan.users.length).to.be.greaterThan(0.75);
    });

    it("content wins on cold-start: a topic-only ranker beats popularity on cold test targets", () => {
      const interactions = plan.users.flatMap((u) => u.items.map((item, j) => ({ user: u.user, item, timestamp: u.timestamps[j]!, line: 0 })));
      const split = officialSplit(interactions);
      const rankBy = (score: (item: CatalogueItem, history: string[]) => number): RankRow[] =>
        split.test.map((r) => {
          const masked = new Set(r.masked);
          const scored = split.items.map((it, idx) => ({ it: it.item, idx, s: masked.has(it.item) ? -Infinity : score(it, r.history) }));
          const t = scored.find((x) => x.it === r.target)!;
          const rank = 1 + scored.filter((x) => x.s > t.s || (x.s === t.s && x.idx < t.idx)).length;
          return { user: r.user, split: "test" as const, target: r.target, rank, topk: [] };
        });
      // content only: how much of the history shares the item's topic (no ids, no popularity)
      const content = rankBy((it, history) => history.filter((h) => topicOf.get(h) === topicOf.get(it.item)).length);
      const popularity = rankBy((it) => it.train_count);
      const cold = (rows: RankRow[]) => metricsFromRanks(rows, split.items).rows.find((r) => r.slice === "cold")!;
      expect(cold(content).users).to.be.greaterThan(40);
      expect(cold(content).hr[10]).to.be.greaterThan(0.25);
      expect(cold(popularity).hr[10]).to.be.lessThan(0.05);
    });

    it("popularity is skewed, and cold items are rare in training but appear as test targets", () => {
      const counts = new Map<string, number>();
      for (const u of plan.users) for (const i of u.items) counts.set(i, (counts.get(i) ?? 0) + 1);
      const sorted = [...counts.values()].sort((a, b) => b - a);
      const total = sorted.reduce((a, b) => a + b, 0);
      const top20 = sorted.slice(0, Math.ceil(0.2 * plan.items.length)).reduce((a, b) => a + b, 0);
      expect(top20 / total).to.be.greaterThan(0.45);

      const cold = plan.items.filter((it) => it.cold).map((it) => it.item);
      expect(cold.length).to.equal(24); // 12% of 200, rounded per topic
      const trainCount = new Map<string, number>();
      const testTargets = new Map<string, number>();
      for (const u of plan.users) {
        u.items.slice(-13, -2).forEach((i) => trainCount.set(i, (trainCount.get(i) ?? 0) + 1));
        const t = u.items.at(-1)!;
        testTargets.set(t, (testTargets.get(t) ?? 0) + 1);
      }
      for (const c of cold) {
        expect(trainCount.get(c) ?? 0, `cold item ${c} in training`).to.be.at.most(2);
        expect(testTargets.get(c) ?? 0, `cold item ${c} as a test target`).to.be.at.least(1);
      }
    });
  });
});
