import { writeFileSync } from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { ServeError } from "../../ts/serve/errors.js";
import { addItems, parseVideoArgs, readTitles } from "../../ts/serve/add-items.js";
import { startRankingService, type RankingService } from "../../ts/serve/index.js";
import { topicRun, type TopicRun } from "./fixture.js";

async function recommend(svc: RankingService, history: string[], k: number): Promise<{ status: number; items: string[] }> {
  const res = await fetch(`${svc.url}/recommend`, { method: "POST", body: JSON.stringify({ history, k }) });
  const body = (await res.json()) as { items?: { item: string }[] };
  return { status: res.status, items: (body.items ?? []).map((x) => x.item) };
}

describe("add-items: cold-start onboarding into a running service (real videos, tiny VLLM, trained model)", function () {
  this.timeout(180_000);
  let run: TopicRun;
  let svc: RankingService;
  const topic0 = ["t0-00", "t0-01", "t0-02"];

  before(async () => {
    run = await topicRun();
    svc = await startRankingService({ runDir: run.runDir, overrides: { port: 0, refresh_s: 0 } });
  });
  after(async () => {
    await svc?.close();
  });

  it("makes a new video recommendable at once for a history of its topic-mates, without retraining", async () => {
    const before = await recommend(svc, topic0, 6);
    expect(before.items).to.not.include(run.newItem);
    expect((await recommend(svc, [run.newItem], 5)).status).to.equal(422); // not in the catalogue yet

    const progress: number[] = [];
    const r = await addItems({ runDir: run.runDir, videos: [path.join(run.videosDir, `${run.newItem}.mp4`)], onProgress: (p) => progress.push(p.done) });
    expect(r.added).to.deep.equal([run.newItem]);
    expect(r.failed).to.deep.equal([]);
    expect(r.n_items).to.equal(25);
    expect(progress.at(-1)).to.equal(1);

    // the running service notices the store changed (serve.refresh_s = 0 here) on its next request
    const after = await recommend(svc, topic0, 6);
    expect(after.status).to.equal(200);
    expect(after.items).to.include(run.newItem); // 5 unseen topic-mates + the new video come first
    expect(after.items.every((i) => i.startsWith("t0-") || i === run.newItem)).to.equal(true);
    expect(svc.backend.info.n_items).to.equal(25);
    const asHistory = await recommend(svc, [run.newItem], 5);
    expect(asHistory.status).to.equal(200);
  });

  it("names a missing video file, a duplicate id and a bad titles line before starting any work", () => {
    expect(() => parseVideoArgs(["/nope/v1.mp4"])).to.throw(ServeError, "/nope/v1.mp4: no such video file");
    const a = path.join(run.videosDir, "t0-03.mp4");
    expect(() => parseVideoArgs([a, `t0-03=${a}`])).to.throw(ServeError, /item id 't0-03' is also given by/);
    expect(parseVideoArgs([`fresh=${a}`], new Map([["fresh", "a title"]]))).to.deep.equal([{ item: "fresh", video: a, title: "a title" }]);
    const titles = path.join(run.root, "titles.csv");
    writeFileSync(titles, "item,title\nfresh,\"Red, round\"\nbroken\n");
    expect(() => readTitles(titles)).to.throw(ServeError, `${titles}:3: expected 2 fields item,title`);
  });
});
