// The serve and add-items verbs as real processes: what a user types, what they see.
import path from "node:path";
import { expect } from "chai";
import { execa } from "execa";
import { LO_EXP, REPO_ROOT } from "../helpers.js";
import { trainedRun, type TrainedRun } from "./fixture.js";


describe("lo-exp serve / add-items (real processes)", function () {
  this.timeout(120_000);
  let run: TrainedRun;
  before(async () => {
    run = await trainedRun();
  });

  it("serve prints its URL, answers, and stops cleanly on SIGINT", async () => {
    const proc = execa("node", [LO_EXP, "serve", run.runDir, "--port", "0", "--max-k", "7", "--tower", "eager"], { cwd: REPO_ROOT, reject: false });
    const url = await new Promise<string>((resolve, reject) => {
      let out = "";
      proc.stdout!.on("data", (b: Buffer) => {
        out += b.toString();
        const m = /at (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      void proc.then((r) => reject(new Error(`serve exited early (${r.exitCode}): ${r.stderr}`)));
    });
    const res = await fetch(`${url}/recommend`, { method: "POST", body: JSON.stringify({ history: ["v00001"], k: 8 }) });
    expect(res.status).to.equal(400); // --max-k 7 took effect
    const ok = await fetch(`${url}/recommend`, { method: "POST", body: JSON.stringify({ history: ["v00001"], k: 7 }) });
    expect(((await ok.json()) as { items: unknown[] }).items).to.have.length(7);
    proc.kill("SIGINT");
    const r = await proc;
    expect(r.exitCode).to.equal(0);
    expect(r.stdout).to.match(/lo-exp serve: stopped/);
    expect(r.stdout).to.match(/; exact top-K; user tower eager\) at http/); // --tower eager took effect
  });

  it("serve and add-items name a missing store in one line and exit 1", async () => {
    const serve = await execa("node", [LO_EXP, "serve", run.splitDir, "--port", "0"], { cwd: REPO_ROOT, reject: false });
    expect(serve.exitCode).to.equal(1);
    expect(serve.stderr.trim()).to.equal(`lo-exp: ${path.join(run.splitDir, "embeddings", "store.json")}: no EmbeddingStore in this run (run the embed stage first; \`lo-exp run\` does and lists it in results/<name>/stages.json)`);
    const add = await execa("node", [LO_EXP, "add-items", run.runDir, "/no/such/video.mp4"], { cwd: REPO_ROOT, reject: false });
    expect(add.exitCode).to.equal(1);
    expect(add.stderr.trim()).to.equal("lo-exp: /no/such/video.mp4: no such video file");
  });
});
