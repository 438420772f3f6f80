// `lo-exp add-items` through the real CLI (issue 22): an image named .mp4 fails its item with its
// reason, and progress written to a pipe has no `\r` redraws.
import { expect } from "chai";
import { execa } from "execa";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { REPO_ROOT } from "../../ts/worker/index.js";
import { pngBytes } from "../data/png.js";
import { topicRun } from "./fixture.js";

describe("add-items CLI: a PNG named .mp4 is not a video", function () {
  this.timeout(300_000);

  it("fails the item with reason not_video naming the file; nothing is added; no \\r on a non-TTY stderr", async () => {
    const run = await topicRun();
    const poster = path.join(run.root, "poster.mp4");
    writeFileSync(poster, pngBytes());
    const r = await execa("node", [path.join(REPO_ROOT, "bin/lo-exp.js"), "add-items", run.runDir, poster], { reject: false });
    expect(r.exitCode, r.stderr).to.equal(1);
    expect(r.stderr).to.include(`lo-exp add-items: poster: not added (not_video: ${poster} (an image (png_pipe), not a video container))`);
    expect(r.stderr).to.include("lo-exp: add-items: no video could be added");
    expect(r.stderr).to.not.include("\r");
    expect(r.stderr).to.not.match(/internal error|Traceback/);
  });
});
