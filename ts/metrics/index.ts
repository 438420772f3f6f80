// Metrics: HR@K / NDCG@K overall, cold-start and long-tail; the ranks.arrow format; the popularity baseline.
export { computeMetrics, metricsFromRanks, sliceTargets, readCatalogueCounts, headItems, ndcgAt, formatMetrics } from "./metrics.js";
export type { MetricsOptions, MetricsResult, MetricsRow, Slice, CatalogueCounts } from "./metrics.js";
export { readRanks, writeRanks, ranksTable } from "./ranks.js";
export type { RankRow, EvalSplit } from "./ranks.js";
export { popularityRanks } from "./popularity.js";
export type { PopularityOptions } from "./popularity.js";
export { userVectors, rowStats, pairedComparison, signTest, binomialTwoSidedHalf, sampleSd, quantileSorted, columnName } from "./stats.js";
export type { BootstrapOptions, Interval, UserVectors, RowStats, SignTest, PairedComparison } from "./stats.js";
