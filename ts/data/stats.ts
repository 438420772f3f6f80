// `lo-exp data stats DIR`: the rows of the paper's Table 1 for a MicroLens-format directory.
import { loadMicroLens, type LoadOptions, type WarningKind } from "./microlens.js";
import { officialSplit, PROTOCOL, userSequences, type SplitOptions } from "./split.js";

export interface DatasetStats {
  dir: string;
  variant: string;
  pairsFile: string;
  /** users in the pairs file */
  users: number;
  /** distinct items in the pairs file */
  items: number;
  /** rows read (after dropping bad rows under the skip policy) */
  interactions: number;
  /** Σ train sequence lengths after the protocol (paper: "training samples") */
  trainSamples: number;
  /** one per kept user */
  validSamples: number;
  testSamples: number;
  /** interactions / users (paper: "avg seq length") */
  avgSeqLength: number;
  interactionsPerUserMin: number;
  interactionsPerUserMax: number;
  itemsWithVideo: number;
  itemsWithoutVideo: number;
  itemsWithTitle: number;
  /** users with fewer than 5 interactions, dropped by the protocol */
  usersDropped: number;
  /** items in the catalogue after the protocol */
  catalogueItems: number;
  warnings: Record<WarningKind, number>;
}

/** Compute Table 1 statistics. Videos are counted, not required (missing ones are reported, not fatal). */
export function datasetStats(dir: string, opts: Omit<LoadOptions, "onMissingVideo"> & SplitOptions = {}): DatasetStats {
  const ds = loadMicroLens(dir, { ...opts, onMissingVideo: "keep" });
  const sequences = userSequences(ds.interactions);
  const lengths = [...sequences.values()].map((s) => s.length);
  const split = officialSplit(ds.interactions, { ...opts, lineSequences: ds.files.pairsFormat === "tsv" });
  const items = new Set(ds.interactions.map((x) => x.item));
  let withTitle = 0;
  for (const item of items) if (ds.titles.has(item)) withTitle += 1;
  const warnings = { ...ds.warningCounts, missing_video: 0 }; // missing videos are reported as a row instead
  return {
    dir: ds.dir,
    variant: ds.variant,
    pairsFile: ds.files.pairs,
    users: sequences.size,
    items: items.size,
    interactions: ds.interactions.length,
    trainSamples: split.counts.trainSamples,
    validSamples: split.valid.length,
    testSamples: split.test.length,
    avgSeqLength: sequences.size ? ds.interactions.length / sequences.size : 0,
    interactionsPerUserMin: lengths.length ? lengths.reduce((a, b) => Math.min(a, b)) : 0,
    interactionsPerUserMax: lengths.length ? lengths.reduce((a, b) => Math.max(a, b)) : 0,
    itemsWithVideo: ds.videos.size,
    itemsWithoutVideo: ds.itemsWithoutVideo.length,
    itemsWithTitle: withTitle,
    usersDropped: split.counts.usersDropped,
    catalogueItems: split.counts.itemsKept,
    warnings,
  };
}

const fmtInt = (n: number) => n.toLocaleString("en-US");

/** The Table 1 rows as [label, value] pairs, in the paper's order, then our extra rows. */
export function statsRows(s: DatasetStats): [string, string][] {
  return [
    ["# Users", fmtInt(s.users)],
    ["# Items (Videos)", fmtInt(s.items)],
    ["# Total interactions", fmtInt(s.interactions)],
    ["# Training samples", fmtInt(s.trainSamples)],
    ["# Validation samples", fmtInt(s.validSamples)],
    ["# Test samples", fmtInt(s.testSamples)],
    ["Avg seq length", s.avgSeqLength.toFixed(2)],
    ["Interactions per User", `${s.interactionsPerUserMin}–${s.interactionsPerUserMax}`],
    ["# Items with video", fmtInt(s.itemsWithVideo)],
    ["# Items without video", fmtInt(s.itemsWithoutVideo)],
    ["# Items with title", fmtInt(s.itemsWithTitle)],
    ["# Users dropped (< 5 interactions)", fmtInt(s.usersDropped)],
    ["# Catalogue items (after protocol)", fmtInt(s.catalogueItems)],
  ];
}

/** A Markdown table of the rows, headed by the variant name. */
export function formatStats(s: DatasetStats): string {
  const rows = statsRows(s);
  const head = ["Statistics", `MicroLens-${s.variant}`];
  const w0 = Math.max(head[0]!.length, ...rows.map((r) => r[0].length));
  const w1 = Math.max(head[1]!.length, ...rows.map((r) => r[1].length));
  const line = (a: string, b: string) => `| ${a.padEnd(w0)} | ${b.padStart(w1)} |`;
  const out = [line(head[0]!, head[1]!), `|${"-".repeat(w0 + 2)}|${"-".repeat(w1 + 1)}:|`, ...rows.map(([a, b]) => line(a, b))];
  const warned = Object.entries(s.warnings).filter(([, n]) => n > 0);
  if (warned.length) out.push("", `warnings: ${warned.map(([k, n]) => `${k} ${n}`).join(", ")}`);
  if (s.users > 0 && s.users === s.usersDropped) out.push("", `warning: ${s.pairsFile}: no user has ≥ ${PROTOCOL.minInteractions} interactions, so the protocol keeps none (data split and run will refuse it)`);
  return out.join("\n");
}
