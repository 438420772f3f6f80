import { expect } from "chai";
import { runScaleBench, type StageFigures } from "../../ts/bench/scale.js";
import { formatBenchReport } from "../../ts/bench/report.js";

describe("bench scale (real pipeline and workers, tiny size)", function () {
  this.timeout(600_000);

  it("runs every stage of the ID-only pipeline and reports per-stage figures and rank_vs_bare", async () => {
    const r = await runScaleBench({ users: 120, items: 40 });
    const json = r.json as { stages: Record<string, StageFigures>; rank_vs_bare: number; floor_s: number; load_avg: { start: number[]; end: number[] }; ranked_users: number };
    // ID-only: nothing to extract and no popularity ranking; every other stage ran here
    const ran = ["synth", "data", "split", "train", "embed", "rank", "metrics", "report"];
    for (const s of ran) {
      const f = json.stages[s]!;
      expect(f.status, s).to.equal("done");
      for (const key of ["wall_s", "cpu_s", "peak_rss_mb", "disk_mb"] as const) expect(f[key], `${s}.${key}`).to.be.a("number").and.at.least(0);
      expect(f.processes["lo-exp"], s).to.be.greaterThan(0);
    }
    expect(json.stages.extract!.status).to.equal("skipped");
    // the workers are sampled too: training ran in a Python worker that is larger than nothing
    expect(Object.keys(json.stages.train!.processes).filter((p) => p.startsWith("worker "))).to.have.length(2); // the run's pool
    expect(json.ranked_users).to.equal(240);
    expect(json.floor_s).to.be.greaterThan(0);
    expect(json.rank_vs_bare).to.be.greaterThan(0);
    expect(json.load_avg.start).to.have.length(3);
    expect(formatBenchReport(r)).to.contain("| train ").and.contain("rank_vs_bare");
  });
});
