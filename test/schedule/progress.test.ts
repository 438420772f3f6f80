import { expect } from "chai";
import { formatDuration, Reporter } from "../../ts/schedule/progress.js";

/** A reporter on a fake clock that keeps what it writes. */
function reporter(mode: "tty" | "plain" | "json") {
  let now = 1_000_000;
  const out: string[] = [];
  const r = new Reporter({ mode, write: (s) => out.push(s), now: () => now, plainIntervalS: 10 });
  return { r, out, tick: (ms: number) => (now += ms) };
}

describe("progress reporter (ts/schedule/progress)", () => {
  it("derives items/s and ETA from done/total over time", () => {
    const { r, tick } = reporter("json");
    r.progress("extract", { done: 0, total: 100, unit: "videos" });
    tick(4000);
    r.progress("extract", { done: 20, total: 100, unit: "videos" });
    const ev = r.events.at(-1)!;
    expect(ev).to.deep.include({ event: "progress", stage: "extract", done: 20, total: 100, unit: "videos" });
    expect((ev as { rate: number }).rate).to.be.closeTo(5, 1e-9); // 20 videos in 4 s
    expect((ev as { eta_s: number }).eta_s).to.be.closeTo(16, 1e-9); // 80 left at 5/s
  });

  it("json mode writes one parseable event per line", () => {
    const { r, out } = reporter("json");
    r.emit({ event: "cache_hit", stage: "extract", key: "abc", dir: "/c/extract/abc" });
    r.log("hello", "train");
    const lines = out.join("").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.event)).to.deep.equal(["cache_hit", "log"]);
    expect(lines[1]).to.deep.include({ stage: "train", message: "hello" });
    expect(typeof lines[0]!.t).to.equal("string");
  });

  it("plain mode prints a progress line at most every interval, and always the last one", () => {
    const { r, out, tick } = reporter("plain");
    r.progress("train", { done: 1, total: 10, unit: "epochs" });
    for (let i = 2; i <= 9; i++) {
      tick(2000);
      r.progress("train", { done: i, total: 10, unit: "epochs" });
    }
    tick(500);
    r.progress("train", { done: 10, total: 10, unit: "epochs" });
    const lines = out.join("").trim().split("\n");
    // t=0 (1), t=10 s (6), then the final one
    expect(lines.map((l) => l.match(/train: (\d+)\/10/)![1])).to.deep.equal(["1", "6", "10"]);
    expect(lines[1]).to.match(/0\.50 epochs\/s, ETA 8s$/);
  });

  it("tty mode redraws one line and ends it when the stage finishes or a message follows", () => {
    const { r, out, tick } = reporter("tty");
    r.progress("rank", { done: 1, total: 4, unit: "shards" });
    tick(1000);
    r.progress("rank", { done: 4, total: 4, unit: "shards" });
    r.emit({ event: "stage_done", stage: "rank", key: "k", dir: "/d", seconds: 1 });
    const text = out.join("");
    expect(text.startsWith("\r\x1b[K  rank: 1/4 shards (25%)")).to.equal(true);
    expect(text).to.include("\r\x1b[K  rank: 4/4 shards (100%), 3.00 shards/s, ETA 0s\n");
    expect(text.endsWith("[rank] done in 1s → /d\n")).to.equal(true);
  });

  it("formats durations", () => {
    expect([5, 65, 3725].map(formatDuration)).to.deep.equal(["5s", "1m05s", "1h02m"]);
  });
});
