// The record a finished stage keeps of its files, and the check a cache hit passes (ts/schedule/cache-check.ts).
import { expect } from "chai";
import { execa } from "execa";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspectEntry, recordOutputs, rerecordEntry, CHEAP_HASH_BYTES } from "../../ts/schedule/cache-check.js";
import { pipelineStages } from "../../ts/schedule/pipeline.js";
import { findPython, REPO_ROOT } from "../../ts/worker/index.js";

function writeEntry(dir: string, mutable?: RegExp): void {
  writeFileSync(join(dir, "stage.json"), JSON.stringify({ stage: "t", meta: { ok: 1 }, files: recordOutputs(dir, mutable) }));
}

describe("cache-check: recorded outputs and the hit check", function () {
  this.timeout(120_000);
  let root = "";
  before(() => (root = mkdtempSync(join(tmpdir(), "lo-cachecheck-"))));
  after(() => root && rmSync(root, { recursive: true, force: true }));

  it("sizes are always checked, small files' hashes always, big files' hashes only at level 'hashes'", () => {
    const dir = join(root, "levels");
    mkdirSync(join(dir, "sub"), { recursive: true });
    writeFileSync(join(dir, "small.json"), "{}");
    writeFileSync(join(dir, "sub", "big.bin"), Buffer.alloc(CHEAP_HASH_BYTES + 10, 7));
    writeEntry(dir);
    expect(inspectEntry(dir, "hashes")).to.deep.equal({ meta: { ok: 1 }, recorded: true });

    const big = readFileSync(join(dir, "sub", "big.bin"));
    big[5] = 8;
    writeFileSync(join(dir, "sub", "big.bin"), big);
    expect(inspectEntry(dir, "sizes")).to.have.property("meta");
    expect(inspectEntry(dir, "hashes")).to.deep.equal({ damaged: `${join(dir, "sub", "big.bin")}: content differs from its recorded sha256 (same size, changed bytes)` });

    writeEntry(dir);
    writeFileSync(join(dir, "small.json"), "[]");
    expect(inspectEntry(dir, "sizes")).to.deep.equal({ damaged: `${join(dir, "small.json")}: content differs from its recorded sha256 (same size, changed bytes)` });
    rmSync(join(dir, "small.json"));
    expect(inspectEntry(dir, "sizes")).to.deep.equal({ damaged: `${join(dir, "small.json")}: missing (recorded: 2 bytes)` });
    mkdirSync(join(dir, "small.json"));
    expect(inspectEntry(dir, "sizes")).to.deep.equal({ damaged: `${join(dir, "small.json")}: not a file (recorded as a file of 2 bytes)` });
    // A command that changes an entry on purpose records it again.
    rmSync(join(dir, "small.json"), { recursive: true });
    writeFileSync(join(dir, "small.json"), "{\"retried\": true}");
    rerecordEntry(dir);
    expect(inspectEntry(dir, "hashes")).to.have.property("meta");
  });

  it("`lo-exp add-items` appending to the embed stage's LanceDB store is not damage (the embed stage's `mutable`)", async () => {
    const embed = pipelineStages().find((s) => s.name === "embed")!;
    const dir = join(root, "embed");
    mkdirSync(dir);
    const py = (code: string) =>
      execa(findPython(), ["-c", `import sys, torch\nfrom linkedout.store.embedding_store import EmbeddingStore\np = sys.argv[1]\n${code}`, join(dir, "embeddings")], {
        cwd: REPO_ROOT,
        env: { PYTHONPATH: join(REPO_ROOT, "py") },
      });
    await py(`EmbeddingStore.create(p, ["a", "b"], torch.zeros(2, 4), torch.ones(2, 2) / 2, "v1")`);
    writeEntry(dir, embed.mutable);
    await py(`EmbeddingStore.open(p).add(["c"], torch.ones(1, 4), torch.ones(1, 2) / 2, "v1")`);
    expect(inspectEntry(dir, "hashes")).to.have.property("meta");
    // ... while a data file of the catalogue rows is still checked.
    const recorded = (JSON.parse(readFileSync(join(dir, "stage.json"), "utf8")) as { files: { path: string }[] }).files.map((f) => f.path);
    expect(recorded.some((p) => /^embeddings\/items\.lance\/data\/.+\.lance$/.test(p))).to.equal(true);
  });
});
