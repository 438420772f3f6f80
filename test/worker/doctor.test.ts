import { expect } from "chai";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { formatDoctor, runDoctor } from "../../ts/worker/doctor.js";

describe("doctor", function () {
  this.timeout(60_000);

  it("passes on this checkout: versions, packages, device and a real round trip", async () => {
    const report = await runDoctor();
    const byName = Object.fromEntries(report.checks.map((c) => [c.name, c]));
    expect(report.ok, formatDoctor(report)).to.equal(true);
    expect(byName.node!.detail).to.equal(`v${process.versions.node}`);
    expect(byName.python!.detail).to.match(/^3\.\d+\.\d+ \(/);
    expect(byName["python packages"]!.detail).to.match(/torch \d/).and.match(/pyzmq \d/);
    expect(byName["torch device"]!.detail).to.match(/CPU|CUDA/);
    expect(byName["round trip"]!.detail).to.match(/bit-exact/);
  });

  it("fails with what is missing and how to fix it for a Python without the worker packages", async () => {
    // the system python3 with -S: no site-packages, so none of the pinned packages are importable
    const dir = mkdtempSync(path.join(tmpdir(), "lo-doctor-"));
    const bare = path.join(dir, "python");
    writeFileSync(bare, '#!/bin/sh\nexec python3 -S "$@"\n');
    chmodSync(bare, 0o755);
    const report = await runDoctor({ python: bare }).finally(() => rmSync(dir, { recursive: true, force: true }));
    expect(report.ok).to.equal(false);
    const packages = report.checks.find((c) => c.name === "python packages")!;
    expect(packages.ok).to.equal(false);
    expect(packages.detail).to.match(/torch: missing, requirements.txt pins \d/);
    expect(formatDoctor(report)).to.match(/fix: run `npm run setup`/);
  });
});
