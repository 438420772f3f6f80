// ts/metrics/stats.ts against hand-derived values (test/schedule/compare.test.ts checks it against scipy).
import { expect } from "chai";
import { binomialTwoSidedHalf, pairedComparison, quantileSorted, rowStats, signTest } from "../../ts/metrics/index.js";

const vec = (n: number, f: (u: number) => number) => Float64Array.from({ length: n }, (_, u) => f(u));

describe("statistics: bootstrap intervals and the sign test (ts/metrics/stats)", () => {
  it("the exact two-sided binomial p-value (p = ½) matches the hand-summed tails", () => {
    // 2·(C(10,0) + C(10,1) + C(10,2)) / 2^10 = 2·56/1024
    expect(binomialTwoSidedHalf(2, 10)).to.be.closeTo(112 / 1024, 1e-15);
    expect(binomialTwoSidedHalf(8, 10)).to.be.closeTo(112 / 1024, 1e-15);
    // 2·1/32
    expect(binomialTwoSidedHalf(0, 5)).to.be.closeTo(2 / 32, 1e-15);
    // 2·(1 + 20 + 190)/2^20
    expect(binomialTwoSidedHalf(2, 20)).to.be.closeTo((2 * 211) / 2 ** 20, 1e-18);
    expect(binomialTwoSidedHalf(5, 10)).to.equal(1); // the middle: both tails together exceed 1
    expect(binomialTwoSidedHalf(0, 0)).to.equal(1); // no discordant user
    // thousands of users: 2·2^-3000 underflows to 0 rather than NaN
    expect(binomialTwoSidedHalf(0, 3000)).to.equal(0);
    expect(binomialTwoSidedHalf(1500, 3000)).to.equal(1);
  });

  it("the sign test counts users by the sign of their difference; ties carry no sign", () => {
    const t = signTest([1, 0, 1, 1, 0, 0.5], [0, 0, 0, 1, 1, 0.25]);
    expect(t).to.deep.equal({ aBetter: 3, bBetter: 1, p: binomialTwoSidedHalf(3, 4) });
    expect(binomialTwoSidedHalf(3, 4)).to.be.closeTo((2 * 5) / 16, 1e-15);
  });

  it("quantiles interpolate linearly between order statistics (numpy's default)", () => {
    expect(quantileSorted([0, 10, 20, 30], 0.5)).to.equal(15);
    expect(quantileSorted([0, 10, 20, 30], 0.1)).to.be.closeTo(3, 1e-12);
  });

  it("identical rows: difference 0, interval [0, 0], p = 1", () => {
    const a = [vec(200, (u) => (u % 3 === 0 ? 1 : 0)), vec(200, (u) => (u % 4 === 0 ? 1 : 0))];
    const b = a.map((r) => Float64Array.from(r));
    const c = pairedComparison(a, b, true);
    expect([c.difference, c.ci.low, c.ci.high, c.sign.p, c.significant]).to.deep.equal([0, 0, 0, 1, false]);
  });

  it("a constant per-user difference has a zero-width interval at that difference", () => {
    const a = [vec(50, () => 0.75)];
    const b = [vec(50, () => 0.5)];
    const c = pairedComparison(a, b, true);
    expect(c.difference).to.equal(0.25);
    expect(c.ci.low).to.be.closeTo(0.25, 1e-12);
    expect(c.ci.high).to.be.closeTo(0.25, 1e-12);
    expect([c.sign.aBetter, c.sign.bBetter]).to.deep.equal([50, 0]);
    expect(c.sign.p / (2 / 2 ** 50)).to.be.closeTo(1, 1e-12);
  });

  it("seed variation widens the interval: seeds resampled with the users (hand-derived)", () => {
    // every user has value c_s under seed s, c = (0.2, 0.4, 0.6): users add no spread, seeds do. A
    // replicate is the mean of 3 seeds drawn with replacement; P(all three = 0.2) = P(all = 0.6) = 1/27
    // = 3.7 % > 2.5 %, so the 95 % interval is [0.2, 0.6]. The sd over seeds is 0.2.
    const x = [0.2, 0.4, 0.6].map((c) => vec(100, () => c));
    const s = rowStats(x, { resamples: 4000 });
    expect(s.mean).to.be.closeTo(0.4, 1e-12);
    expect(s.perSeed.map((v) => +v.toFixed(12))).to.deep.equal([0.2, 0.4, 0.6]);
    expect(s.sd).to.be.closeTo(0.2, 1e-12);
    expect(s.ci.low).to.be.closeTo(0.2, 1e-12);
    expect(s.ci.high).to.be.closeTo(0.6, 1e-12);
    // one seed: no sd
    expect(rowStats([x[0]!]).sd).to.equal(null);
  });

  it("is deterministic: the same inputs give the same interval; another bootstrap seed another one", () => {
    const a = [vec(300, (u) => ((u * 7) % 5 === 0 ? 1 : 0))];
    const b = [vec(300, (u) => ((u * 11) % 4 === 0 ? 1 : 0))];
    const one = pairedComparison(a, b, true);
    expect(pairedComparison(a, b, true)).to.deep.equal(one);
    expect(pairedComparison(a, b, true, { seed: 1 }).ci).to.not.deep.equal(one.ci);
  });

  it("finds a planted difference", () => {
    // B hits for every third user; A additionally for 40 users that B misses
    const b = [vec(400, (u) => (u % 3 === 0 ? 1 : 0))];
    const a = [vec(400, (u) => (u % 3 === 0 || (u % 3 === 1 && u < 120) ? 1 : 0))];
    const c = pairedComparison(a, b, true);
    expect(c.difference).to.be.closeTo(40 / 400, 1e-12);
    expect(c.significant).to.equal(true);
    expect(c.ci.low).to.be.greaterThan(0.05);
    expect(c.sign.aBetter).to.equal(40);
    expect(c.sign.bBetter).to.equal(0);
    expect(c.sign.p / (2 / 2 ** 40)).to.be.closeTo(1, 1e-12);
  });
});
