// The TypeScript-written stage files of schemas/fixtures/stages/ts/ (the Python-written ones are made
// by scripts/stage_fixtures.py): a split of the hand-made MicroLens folder of test/data/handmade.ts
// (items/train/valid/test.arrow, no videos), its popularity ranks.arrow (top 3) and the extract stage's
// items.arrow with one side channel. Both suites check every fixture against schemas/stages/ and read
// the other language's with their own readers (test/schedule/stage-files.test.ts,
// py/tests/store/test_stage_files.py). Regenerate: `npx tsx scripts/stage-fixtures.ts`.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readSplit, splitDataset, writeArrowFile } from "../ts/data/index.js";
import { popularityRanks } from "../ts/metrics/index.js";
import { extractItemsTable } from "../ts/schedule/side-channels.js";
import { writeHandmade } from "../test/data/handmade.js";

const OUT = fileURLToPath(new URL("../schemas/fixtures/stages/ts/", import.meta.url));

const work = mkdtempSync(join(tmpdir(), "lo-stage-fixtures-"));
try {
  const dataset = writeHandmade({ videos: false });
  const split = join(work, "split");
  splitDataset(dataset, split, { needVideos: false });
  mkdirSync(OUT, { recursive: true });
  for (const f of ["items.arrow", "train.arrow", "valid.arrow", "test.arrow"]) copyFileSync(join(split, f), join(OUT, f));
  popularityRanks(split, { out: join(OUT, "ranks.arrow"), topk: 3 });
  const items = readSplit(split).items.map((it, i) => ({ item: it.item, video: "", title: it.title, ...(i % 2 ? { tags: `tag ${i}` } : {}) }));
  writeArrowFile(join(OUT, "extract-items.arrow"), extractItemsTable(items, ["title", "tags"]));
  rmSync(dataset, { recursive: true, force: true });
  console.log(`wrote ${OUT}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
