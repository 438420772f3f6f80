import { expect } from "chai";
import { runTransportBench } from "../../ts/bench/transport.js";
import { formatBenchReport } from "../../ts/bench/report.js";

// A smoke run of the benchmark code (tiny, one worker): it must produce its tables and JSON fields.
// The numbers themselves are measured by `lo-exp bench transport`, never asserted here.
describe("bench transport (smoke)", function () {
  this.timeout(60_000);
  it("produces the round-trip and small-message tables and JSON", async () => {
    const report = await runTransportBench({ sizesMb: [1], repeats: 2, smallCalls: 5, pythonia: false, compareSocket: false });
    const size = (report.json.sizes as Record<string, Record<string, number>>)["1mb"]!;
    expect(size.bytes).to.equal(1 << 20);
    for (const k of ["memcpy_alloc_ms", "memcpy_prealloc_ms", "shm_round_trip_ms", "ratio_vs_alloc_copy"]) expect(size[k], k).to.be.a("number").greaterThan(0);
    expect(size.socket_round_trip_ms).to.be.NaN; // socket comparison switched off
    const small = report.json.small as Record<string, number>;
    expect(small.calls).to.equal(5);
    expect(small.ping_p99_ms).to.be.at.least(small.ping_p50_ms!);
    const text = formatBenchReport(report);
    expect(text).to.match(/\| 1 MB +\|/).and.match(/ping \(socket thread\)/);
  });
});
