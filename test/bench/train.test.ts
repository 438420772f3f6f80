import { expect } from "chai";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { benchTrain, trainBenchReport, type BenchTrainResult } from "../../ts/bench/train.js";
import { formatBenchReport } from "../../ts/bench/report.js";

describe("bench train (real worker, bench_train op)", function () {
  this.timeout(120_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "lo-bench-train-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("measures a few real training steps and writes the JSON it returns", async () => {
    const out = join(dir, "bench-train.json");
    const progress: number[] = [];
    const r = await benchTrain({ preset: "tiny", batchSize: 8, steps: 2, warmup: 0, out, onProgress: (p) => progress.push(p.done) });
    expect(r.rows).to.have.length(1);
    const row = r.rows[0]!;
    expect(row.device).to.equal("cpu");
    expect(row.precision).to.equal("fp32");
    expect(row.batch_sequences).to.equal(8);
    expect(row.items_per_batch).to.be.greaterThan(8); // several distinct items per sequence
    expect(row.sequences_per_s).to.be.closeTo(8 / row.step_s, 1e-6);
    expect(row.d_model).to.equal(64);
    expect(progress.at(-1)).to.equal(2);
    const saved = JSON.parse(readFileSync(out, "utf8")) as BenchTrainResult;
    expect(saved.rows[0]!.step_s).to.equal(row.step_s);
    const table = formatBenchReport(trainBenchReport(r));
    expect(table).to.match(/\| tiny \(d=64, 2 taps\) \| cpu +\| fp32 +\|/);
  });
});
