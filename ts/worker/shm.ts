/**
 * Shared-memory frames for a worker on the same host (docs/protocol.md, "shm frames").
 *
 * Large tensors do not travel through the socket: the sender writes the Arrow IPC stream into a file
 * in a private 0700 directory under /dev/shm and sends only its name; the Python worker memory-maps it
 * (no copy) and may write large results into files the client offers (`shm_out`) or new ones there.
 * Files are reused ("slots") because writing into fresh tmpfs pages costs several times a memcpy.
 */
import { closeSync, constants, existsSync, fstatSync, mkdtempSync, openSync, readSync, rmSync, writevSync } from "node:fs";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { tmpdir } from "node:os";

export const DEFAULT_SHM_MIN_BYTES = 1 << 20;
const DEFAULT_POOL_BYTES = 1 << 30;
const READ_CHUNK = 4 << 20;

export interface Slot {
  name: string;
  size: number;
}

/** The /dev/shm directory used for shm frames, or null where there is none (then frames go over the socket). */
export function shmRoot(): string | null {
  return existsSync("/dev/shm") ? "/dev/shm" : null;
}

// Directories of pools not yet closed: removed when Node exits without closing its workers (a
// SIGKILLed orchestrator leaves them to its workers, which remove their peers' directories on exit).
const openDirs = new Set<string>();
process.once("exit", () => {
  for (const dir of openDirs) rmSync(dir, { recursive: true, force: true });
});

export class ShmPool {
  private readonly free: Slot[] = [];
  private pooledBytes = 0;
  private closed = false;

  private constructor(
    readonly dir: string,
    readonly maxPooledBytes: number,
  ) {}

  static create(root = shmRoot() ?? tmpdir(), maxPooledBytes = DEFAULT_POOL_BYTES): ShmPool {
    const pool = new ShmPool(mkdtempSync(path.join(root, "lo-shm-")), maxPooledBytes); // mkdtemp: mode 0700
    openDirs.add(pool.dir);
    return pool;
  }

  /** A free slot (the smallest one that fits, else the largest, which the writer grows), or a new one. */
  acquire(minBytes = 0): Slot {
    const fits = this.free.filter((s) => s.size >= minBytes);
    const pick = fits.length
      ? fits.reduce((a, b) => (b.size < a.size ? b : a)) // smallest that fits
      : this.free.reduce<Slot | undefined>((a, b) => (!a || b.size > a.size ? b : a), undefined); // largest, to grow
    if (pick) {
      this.free.splice(this.free.indexOf(pick), 1);
      this.pooledBytes -= pick.size;
      return pick;
    }
    return { name: `s-${randomUUID()}.arrow`, size: 0 };
  }

  /** Up to `n` existing free files (largest first) lent to a request for its results. */
  offer(n: number): Slot[] {
    const existing = this.free.filter((s) => s.size > 0).sort((a, b) => b.size - a.size).slice(0, n);
    for (const s of existing) {
      this.free.splice(this.free.indexOf(s), 1);
      this.pooledBytes -= s.size;
    }
    return existing;
  }

  /** Give a slot back (its file stays for reuse), or delete it when the pool is full. */
  release(slot: Slot): void {
    if (this.closed) return;
    const file = path.join(this.dir, checkName(slot.name));
    if (!existsSync(file)) return;
    slot.size = fstatSize(file);
    if (this.pooledBytes + slot.size > this.maxPooledBytes) {
      rmSync(file, { force: true });
      return;
    }
    this.free.push(slot);
    this.pooledBytes += slot.size;
  }

  /** Write chunks (an Arrow IPC stream) into the slot's file from offset 0, reusing its pages; grows it if needed. */
  write(slot: Slot, chunks: Uint8Array[]): number {
    const total = chunks.reduce((s, c) => s + c.byteLength, 0);
    // O_CREAT without O_TRUNC: truncating would free the tmpfs pages we want to reuse
    const fd = openSync(path.join(this.dir, slot.name), constants.O_RDWR | constants.O_CREAT, 0o600);
    try {
      const pending = [...chunks];
      let written = 0;
      while (written < total) {
        const n = writevSync(fd, pending, written);
        written += n;
        trimFront(pending, n);
      }
    } finally {
      closeSync(fd);
    }
    slot.size = Math.max(slot.size, total);
    return total;
  }

  /** Read the first `bytes` bytes of a file in the pool directory into a new buffer. */
  read(name: string, bytes: number): Buffer {
    const fd = openSync(path.join(this.dir, checkName(name)), "r");
    try {
      const buf = Buffer.allocUnsafeSlow(bytes);
      let got = 0;
      while (got < bytes) {
        // 4 MiB at a time: measured faster than one call into fresh (not yet faulted-in) memory
        const n = readSync(fd, buf, got, Math.min(READ_CHUNK, bytes - got), got);
        if (n === 0) throw new Error(`shm file ${name}: ${got} bytes, expected ${bytes} (truncated)`);
        got += n;
      }
      return buf;
    } finally {
      closeSync(fd);
    }
  }

  /** Delete the directory and every slot in it. */
  close(): void {
    this.closed = true;
    openDirs.delete(this.dir);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function fstatSize(file: string): number {
  const fd = openSync(file, "r");
  try {
    return fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
}

function trimFront(chunks: Uint8Array[], consumed: number): void {
  let skip = consumed;
  while (chunks.length && skip >= chunks[0]!.byteLength) {
    skip -= chunks[0]!.byteLength;
    chunks.shift();
  }
  if (chunks.length && skip > 0) chunks[0] = chunks[0]!.subarray(skip);
}

/** Slot names are plain file names: no path separators, so a peer cannot point outside the directory. */
export function checkName(name: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(name) || name.startsWith(".")) throw new Error(`shm file name ${JSON.stringify(name)} is not a plain file name`);
  return name;
}
