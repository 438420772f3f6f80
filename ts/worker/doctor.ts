/**
 * `lo-exp doctor`: is this checkout ready to run? Node and Python versions, the worker's pinned packages,
 * torch's device, and one real worker round trip. Each failed check says how to fix it.
 */
import { execa } from "execa";
import path from "node:path";
import { findPython, pythonProblem, REPO_ROOT } from "./python.js";

export interface DoctorCheck {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}
export interface DoctorReport {
  ok: boolean;
  checks: DoctorCheck[];
}

interface EnvReport {
  python: string;
  executable: string;
  packages: { name: string; pinned: string; installed: string | null; ok: boolean }[];
}

export async function runDoctor(opts: { python?: string; device?: string } = {}): Promise<DoctorReport> {
  const checks: DoctorCheck[] = [];
  const add = (c: DoctorCheck) => checks.push(c);
  const setupFix = "run `npm run setup` (installs npm packages and .venv from requirements.txt)";

  const major = Number(process.versions.node.split(".")[0]);
  add({ name: "node", ok: major >= 20, detail: `v${process.versions.node}`, fix: "install Node.js 20 or newer" });

  try {
    const zmq = await import("zeromq");
    add({ name: "zeromq (npm)", ok: true, detail: `libzmq ${zmq.version}` });
  } catch (err) {
    add({ name: "zeromq (npm)", ok: false, detail: (err as Error).message.split("\n")[0]!, fix: setupFix });
  }

  const python = opts.python ?? findPython();
  const missing = opts.python ? null : pythonProblem(python);
  if (missing) {
    add({ name: "python", ok: false, detail: missing, fix: setupFix });
    return { ok: false, checks };
  }
  const env = await execa(python, ["-m", "linkedout.worker.envcheck", path.join(REPO_ROOT, "requirements.txt")], {
    reject: false,
    env: { PYTHONPATH: path.join(REPO_ROOT, "py") },
  });
  if (env.exitCode !== 0) {
    add({ name: "python", ok: false, detail: `${python} failed: ${String(env.stderr).trim().split("\n").pop()}`, fix: setupFix });
    return { ok: false, checks };
  }
  const report = JSON.parse(String(env.stdout)) as EnvReport;
  const [pyMajor, pyMinor] = report.python.split(".").map(Number);
  add({ name: "python", ok: pyMajor === 3 && (pyMinor ?? 0) >= 10, detail: `${report.python} (${report.executable})`, fix: "use Python >= 3.10: PYTHON=/path/to/python3 npm run setup" });
  const bad = report.packages.filter((p) => !p.ok);
  add({
    name: "python packages",
    ok: bad.length === 0,
    detail: bad.length === 0
      ? report.packages.map((p) => `${p.name} ${p.installed}`).join(", ")
      : bad.map((p) => `${p.name}: ${p.installed ? `installed ${p.installed}` : "missing"}, requirements.txt pins ${p.pinned}`).join("; "),
    fix: setupFix,
  });

  // A real worker: handshake, device, and one tensor round trip.
  const { startWorker } = await import("./client.js");
  const { tensor } = await import("./codec.js");
  let worker;
  try {
    worker = await startWorker({ device: opts.device ?? "cpu", threads: 1, python });
  } catch (err) {
    add({ name: "worker start", ok: false, detail: (err as Error).message.split("\n").slice(0, 4).join(" | "), fix: setupFix });
    return { ok: false, checks };
  }
  try {
    const info = worker.info;
    add({ name: "worker", ok: true, detail: `pid ${info.pid}, protocol ${info.protocol}, torch ${info.versions.torch}` });
    add({
      name: "torch device",
      ok: true,
      detail: info.cuda_available ? `CUDA, ${info.cuda_device_count} device(s); this worker on ${info.device}` : `CPU only (no CUDA device visible); ${info.threads} thread(s)`,
    });
    const data = Float32Array.from({ length: 1024 }, (_, i) => Math.sin(i));
    const started = performance.now();
    const r = await worker.call("echo", { value: "doctor" }, { frames: [{ name: "x", tensor: tensor("float32", [32, 32], data) }] });
    const ms = performance.now() - started;
    const back = r.tensor("x").data as Float32Array;
    const same = r.result.value === "doctor" && back.length === data.length && back.every((v, i) => v === data[i]);
    add({ name: "round trip", ok: same, detail: same ? `echo of a 32x32 float32 tensor, bit-exact, ${ms.toFixed(1)} ms` : "echo returned different data", fix: "report a bug: the tensor codec disagrees between TS and Python" });
  } catch (err) {
    add({ name: "round trip", ok: false, detail: (err as Error).message.split("\n")[0]!, fix: setupFix });
  } finally {
    await worker.close();
  }
  return { ok: checks.every((c) => c.ok), checks };
}

/** The report as aligned text lines. */
export function formatDoctor(report: DoctorReport): string {
  const width = Math.max(...report.checks.map((c) => c.name.length));
  const lines = report.checks.map((c) => `${c.ok ? "ok  " : "FAIL"}  ${c.name.padEnd(width)}  ${c.detail}${c.ok || !c.fix ? "" : `\n      ${" ".repeat(width)}  fix: ${c.fix}`}`);
  lines.push(report.ok ? "\nall good" : "\nsome checks failed (see fix: lines above)");
  return lines.join("\n") + "\n";
}
