/**
 * `lo-exp bench transport`: what moving a tensor to the Python worker and back costs.
 *
 * - round trip of a float32 tensor of 1, 16 and 128 MB through the `echo` op, with shm frames (the
 *   default on one host) and over the socket only, against an in-process copy of the same bytes
 *   measured in the same run: `Buffer.from` (allocate + copy: what handing someone their own copy
 *   costs) and `set` into a preallocated buffer (pure memcpy bandwidth);
 * - small-message latency p50/p99 of `ping` (socket thread) and `echo` with a 1 KiB tensor (handler thread);
 * - the same 16 MB tensor through pythonia (base64 string each way, its fastest path for bulk data).
 *
 * Throughput = tensor bytes / round-trip time (each byte counted once although it travels both ways).
 */
import path from "node:path";
import os from "node:os";
import { startWorker, type WorkerClient } from "../worker/client.js";
import { tensor } from "../worker/codec.js";
import type { BenchReport, BenchTable } from "./report.js";
import { findPython, REPO_ROOT } from "../worker/python.js";

export interface TransportBenchOptions {
  sizesMb?: number[];
  repeats?: number;
  smallCalls?: number;
  pythonia?: boolean;
  /** Also time a socket-only worker (shm off). Default true. */
  compareSocket?: boolean;
  log?: (line: string) => void;
}

export interface TransportBenchReport extends BenchReport {
  name: "transport";
}

const MB = 1 << 20;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}
async function timeMs(n: number, f: () => unknown | Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await f();
    out.push(performance.now() - t);
  }
  return out;
}

function payload(bytes: number): Float32Array {
  const a = new Float32Array(bytes / 4);
  for (let i = 0; i < a.length; i++) a[i] = (i % 1000) * 0.5;
  return a;
}

/** One echo round trip of `data` (checked), as a function to time. */
function roundTrip(w: WorkerClient, data: Float32Array): () => Promise<void> {
  const t = tensor("float32", [data.length], data);
  return async () => {
    const r = await w.call("echo", {}, { frames: [{ name: "x", tensor: t }] });
    const back = r.tensor("x").data as Float32Array;
    if (back.length !== data.length || back[back.length - 1] !== data[data.length - 1]) throw new Error("echo returned different data");
  };
}

/**
 * The tensor through pythonia, both ways it can carry bulk data: a plain JS array (its default
 * marshalling, JSON; typed arrays themselves go by reference, one bridge call per element read)
 * and a base64 string (the fastest path we found for it).
 */
async function pythoniaRoundTrips(data: Float32Array, repeats: number): Promise<{ listMs: number[]; base64Ms: number[] }> {
  process.env.PYTHON_BIN = findPython(); // pythonia reads it at import time
  const { python } = await import("pythonia");
  try {
    const mod = await python(path.join(REPO_ROOT, "py", "linkedout", "bench", "pythonia.py"));
    const check = (arr: Float32Array) => {
      if (arr.length !== data.length || arr[arr.length - 1] !== data[data.length - 1]) throw new Error("pythonia echo returned different data");
    };
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const viaBase64 = async () => {
      const back = Buffer.from((await mod.echo_base64_float32(bytes.toString("base64"))) as string, "base64");
      check(new Float32Array(back.buffer, back.byteOffset, back.byteLength / 4));
    };
    const viaList = async () => {
      const proxy = await mod.echo_list_float32(Array.from(data));
      check(Float32Array.from((await proxy.valueOf()) as number[]));
    };
    await viaBase64();
    const base64Ms = await timeMs(repeats, viaBase64);
    const listMs = await timeMs(1, viaList); // ~10 s a call: once is enough to see the order of magnitude
    return { listMs, base64Ms };
  } finally {
    python.exit();
  }
}

export async function runTransportBench(opts: TransportBenchOptions = {}): Promise<TransportBenchReport> {
  const sizes = opts.sizesMb ?? [1, 16, 128];
  const repeats = opts.repeats ?? 7;
  const smallCalls = opts.smallCalls ?? 1000;
  const log = opts.log ?? (() => undefined);
  const rows: (string | number)[][] = [];
  const json: Record<string, unknown> = {
    machine: { cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model ?? "unknown", mem_gib: Math.round(os.totalmem() / 2 ** 30), loadavg_1m: os.loadavg()[0], node: process.version, platform: `${os.platform()} ${os.release()}` },
    date: new Date().toISOString(),
    repeats,
    throughput_definition: "tensor bytes / median round-trip time of echo (bytes counted once)",
    sizes: {} as Record<string, unknown>,
  };
  const shmWorker = await startWorker({ device: "cpu", threads: 1 });
  const sockWorker = opts.compareSocket === false ? null : await startWorker({ device: "cpu", threads: 1, shm: false });
  try {
    for (const mb of sizes) {
      const data = payload(mb * MB);
      const src = Buffer.from(data.buffer);
      log(`transport: ${mb} MB`);
      const dst = Buffer.allocUnsafe(src.length);
      dst.set(src);
      const shmCall = roundTrip(shmWorker, data);
      const sockCall = sockWorker ? roundTrip(sockWorker, data) : null;
      await timeMs(2, shmCall); // warm up: the first calls create shm files and fault pages in
      if (sockCall) await timeMs(1, sockCall);
      // Interleaved, so the copies and the round trips see the same load (this VM is shared); the
      // ratios are medians of per-iteration ratios.
      const from: number[] = [], set: number[] = [], shm: number[] = [], sock: number[] = [];
      for (let i = 0; i < repeats; i++) {
        from.push(...(await timeMs(1, () => Buffer.from(src))));
        set.push(...(await timeMs(1, () => dst.set(src))));
        shm.push(...(await timeMs(1, shmCall)));
        if (sockCall && (mb < 128 || i < 3)) sock.push(...(await timeMs(1, sockCall)));
      }
      const fromMs = median(from), setMs = median(set), shmMs = median(shm), sockMs = sock.length ? median(sock) : NaN;
      const ratio = (a: number[], b: number[]) => median(b.map((x, i) => a[i]! / x));
      const tp = (ms: number) => (mb * MB) / 2 ** 20 / (ms / 1000); // MiB/s
      (json.sizes as Record<string, unknown>)[`${mb}mb`] = {
        bytes: mb * MB,
        memcpy_alloc_ms: fromMs,
        memcpy_prealloc_ms: setMs,
        shm_round_trip_ms: shmMs,
        socket_round_trip_ms: sockMs,
        ratio_vs_alloc_copy: ratio(from, shm),
        ratio_vs_prealloc_copy: ratio(set, shm),
        socket_ratio_vs_alloc_copy: sock.length ? ratio(from, sock) : NaN,
      };
      rows.push([`${mb} MB`, fromMs.toFixed(2), setMs.toFixed(2), shmMs.toFixed(1), tp(shmMs).toFixed(0), sockWorker ? sockMs.toFixed(1) : "-", sockWorker ? tp(sockMs).toFixed(0) : "-",
        ratio(from, shm).toFixed(2), ratio(set, shm).toFixed(3)]);
    }
    log("transport: small messages");
    const ping = await timeMs(smallCalls, () => shmWorker.call("ping", {}));
    const small = tensor("float32", [256], payload(1024));
    const echo = await timeMs(smallCalls, () => shmWorker.call("echo", {}, { frames: [{ name: "x", tensor: small }] }));
    json.small = {
      ping_p50_ms: quantile(ping, 0.5), ping_p99_ms: quantile(ping, 0.99),
      echo_1kib_p50_ms: quantile(echo, 0.5), echo_1kib_p99_ms: quantile(echo, 0.99), calls: smallCalls,
    };
    const s128 = (json.sizes as Record<string, Record<string, number>>)["128mb"];
    if (s128) {
      json.memcpy_ratio_128mb = s128.ratio_vs_alloc_copy;
      json.memcpy_ratio_128mb_prealloc = s128.ratio_vs_prealloc_copy;
      json.memcpy_ratio_128mb_socket_only = s128.socket_ratio_vs_alloc_copy;
    }
    const tables: BenchTable[] = [
      {
        title: "Round trip of a float32 tensor through `echo` (median ms; MiB/s = size / round trip; ratios = medians of per-iteration ratios)",
        columns: ["size", "Buffer.from ms", "set ms", "shm rt ms", "shm MiB/s", "socket rt ms", "socket MiB/s", "ratio vs Buffer.from", "ratio vs set"],
        rows,
      },
      {
        title: `Small messages (${smallCalls} calls each)`,
        columns: ["call", "p50 ms", "p99 ms"],
        rows: [
          ["ping (socket thread)", quantile(ping, 0.5).toFixed(3), quantile(ping, 0.99).toFixed(3)],
          ["echo 1 KiB tensor (handler thread)", quantile(echo, 0.5).toFixed(3), quantile(echo, 0.99).toFixed(3)],
        ],
      },
    ];
    if (opts.pythonia !== false && sizes.includes(16)) {
      log("transport: pythonia 16 MB (the plain-array call takes ~10 s)");
      const py = await pythoniaRoundTrips(payload(16 * MB), Math.min(repeats, 3));
      const listMs = median(py.listMs);
      const b64Ms = median(py.base64Ms);
      const s16 = (json.sizes as Record<string, Record<string, number>>)["16mb"]!;
      const zmqMs = s16.shm_round_trip_ms!;
      const sockMs = s16.socket_round_trip_ms!;
      Object.assign(json, {
        pythonia_16mb_list_ms: listMs,
        pythonia_16mb_base64_ms: b64Ms,
        pythonia_slowdown_16mb: listMs / zmqMs,
        pythonia_slowdown_16mb_base64: b64Ms / zmqMs,
        pythonia_slowdown_16mb_socket_only: listMs / sockMs,
      });
      const f = (x: number) => (Number.isNaN(x) ? "-" : x.toFixed(1));
      tables.push({
        title: "The same 16 MB float32 tensor through pythonia (slowdown = pythonia time / ZeroMQ+Arrow shm time)",
        columns: ["path", "round trip ms", "÷ ZeroMQ+Arrow (shm)"],
        rows: [
          ["ZeroMQ + Arrow, shm frames", f(zmqMs), "1.0"],
          ["ZeroMQ + Arrow, socket only", f(sockMs), f(sockMs / zmqMs)],
          ["pythonia, plain JS array (default JSON marshalling)", f(listMs), f(listMs / zmqMs)],
          ["pythonia, base64 string each way (hand-optimised)", f(b64Ms), f(b64Ms / zmqMs)],
        ],
      });
    }
    return { name: "transport", tables, json };
  } finally {
    await Promise.all([shmWorker.close(), sockWorker?.close()]);
  }
}
