// serve.index over HTTP (real worker, real FAISS index, real HTTP): the API is the same in every mode,
// `auto` at this size answers byte for byte as `exact`, an exhaustive `ann` gives the exact answers, and
// an item added to an indexed store while clients query is answered at once, with no request failing.
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { execa } from "execa";
import { tableFromIPC } from "apache-arrow";
import { serveSchemaProblem, startRankingService, type RankingService } from "../../ts/serve/index.js";
import { findPython, REPO_ROOT } from "../../ts/worker/index.js";
import { trainedRun, type TrainedRun } from "./fixture.js";

const EXHAUSTIVE = { exact_up_to: 200000, nlist: 0, nprobe: 1000000, rebuild_after: 1 };

async function postText(url: string, body: object): Promise<{ status: number; text: string }> {
  const res = await fetch(`${url}/recommend`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, text: await res.text() };
}

function validUsers(run: TrainedRun): { history: string[]; exclude: string[] }[] {
  return tableFromIPC(readFileSync(path.join(run.splitDir, "valid.arrow")))
    .toArray()
    .map((r) => r.toJSON() as { history: Iterable<string>; masked: Iterable<string> })
    .map((r) => ({ history: Array.from(r.history), exclude: Array.from(r.masked) }));
}

/** A copy of the fixture run (these tests write an index and add items to its store). */
function copyRun(run: TrainedRun): string {
  const dir = mkdtempSync(path.join(tmpdir(), "lo-serve-ann-"));
  cpSync(run.runDir, path.join(dir, "run"), { recursive: true });
  return path.join(dir, "run");
}

describe("serve.index: exact | ann | auto over HTTP", function () {
  this.timeout(180_000);
  let run: TrainedRun;
  let runDir: string;
  const services: RankingService[] = [];
  const events: string[] = [];

  before(async () => {
    run = await trainedRun();
    runDir = copyRun(run);
  });
  after(async () => {
    await Promise.all(services.map((s) => s.close()));
    rmSync(path.dirname(runDir), { recursive: true, force: true });
  });

  async function start(overrides: Parameters<typeof startRankingService>[0]["overrides"]): Promise<RankingService> {
    const svc = await startRankingService({ runDir, overrides: { port: 0, max_k: 30, ...overrides }, onEvent: (l) => events.push(l) });
    services.push(svc);
    return svc;
  }

  it("answers the same API in every mode: auto (exact at 40 items) byte for byte as exact, exhaustive ann with the exact items", async () => {
    const exact = await start({ index: "exact" });
    const auto = await start({}); // serve.index default: auto
    const ann = await start({ index: "ann", ann: EXHAUSTIVE });
    expect(auto.backend.info.index).to.equal(undefined);
    expect(ann.backend.info.index).to.include({ mode: "ann", n_indexed: 40, n_delta: 0 });
    expect(events.some((l) => l.includes("ann index") && l.includes("none saved") && l.includes("over 40 items"))).to.equal(true);
    expect(existsSync(path.join(runDir, "embeddings", "index", "faiss.index"))).to.equal(true);
    const healths = await Promise.all([exact, auto, ann].map(async (s) => (await fetch(`${s.url}/health`)).text()));
    expect(healths[1]).to.equal(healths[0]);
    expect(healths[2]).to.equal(healths[0]);
    let checked = 0;
    for (const u of validUsers(run)) {
      const body = { ...u, k: 20, gates: true };
      const [e, a, n] = await Promise.all([exact, auto, ann].map((s) => postText(s.url, body)));
      expect(e!.status).to.equal(200);
      expect(a!.text).to.equal(e!.text);
      const eb = JSON.parse(e!.text) as { items: { item: string; score: number; gates: number[] }[] };
      const nb = JSON.parse(n!.text) as typeof eb;
      expect(serveSchemaProblem("recommend.response", nb)).to.equal(null);
      expect(nb.items.map((x) => x.item)).to.deep.equal(eb.items.map((x) => x.item));
      nb.items.forEach((x, i) => {
        expect(x.score).to.be.closeTo(eb.items[i]!.score, 1e-4);
        expect(x.gates).to.deep.equal(eb.items[i]!.gates);
      });
      // masking: nothing seen or excluded comes back
      const banned = new Set([...u.history, ...u.exclude]);
      expect(nb.items.filter((x) => banned.has(x.item))).to.deep.equal([]);
      checked += 1;
    }
    expect(checked).to.equal(80);
    // bad requests are refused the same way
    const bad = { history: ["no-such-item"], k: 5 };
    const [eBad, nBad] = await Promise.all([exact, ann].map((s) => postText(s.url, bad)));
    expect(nBad).to.deep.equal(eBad);
    expect(eBad!.status).to.equal(422);
  });

  it("answers an item added to the indexed store while 4 clients query: at once, with no failed request, then folds it into the index", async () => {
    const svc = await start({ index: "ann", ann: EXHAUSTIVE, refresh_s: 0.05 });
    const query = { history: ["v00010", "v00011", "v00012"], k: 5 };
    const first = JSON.parse((await postText(svc.url, query)).text) as { items: { item: string }[] };
    const best = first.items[0]!.item;
    let stop = false;
    let errors = 0;
    let answers = 0;
    let seenNew = false;
    const client = async () => {
      while (!stop) {
        const r = await postText(svc.url, query);
        answers += 1;
        if (r.status !== 200) errors += 1;
        else if ((JSON.parse(r.text) as { items: { item: string }[] }).items[0]!.item === "fresh-upload") seenNew = true;
      }
    };
    const clients = Array.from({ length: 4 }, client);
    // another process appends an item whose vector is 3x the current best one's: it must rank first
    const script = [
      "import sys",
      "from linkedout.store.embedding_store import EmbeddingStore",
      "s = EmbeddingStore.open(sys.argv[1]); cat = s.load(); r = cat.index[sys.argv[2]]",
      "s.add(['fresh-upload'], cat.z[r:r + 1] * 3, cat.gates[r:r + 1], s.model_version)",
    ].join("\n");
    await execa(findPython(), ["-c", script, path.join(runDir, "embeddings"), best], {
      cwd: REPO_ROOT, env: { PYTHONPATH: path.join(REPO_ROOT, "py"), OMP_NUM_THREADS: "1" },
    });
    const deadline = Date.now() + 60_000; // generous: the worker checks the store every 0.05 s
    while (!seenNew && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    // the background rebuild (rebuild_after 1) folds the delta into the index; requests go on meanwhile
    while (Date.now() < deadline && (svc.backend.info.index?.n_delta ?? 1) > 0) await new Promise((r) => setTimeout(r, 20));
    stop = true;
    await Promise.all(clients);
    expect(seenNew).to.equal(true);
    expect(errors).to.equal(0);
    expect(answers).to.be.greaterThan(4);
    expect(svc.backend.info).to.include({ n_items: 41 });
    expect(svc.backend.info.index).to.include({ n_indexed: 41, n_delta: 0 });
    const after = JSON.parse((await postText(svc.url, { ...query, exclude: ["fresh-upload"] })).text) as { items: { item: string }[] };
    expect(after.items[0]!.item).to.equal(best);
  });
});
