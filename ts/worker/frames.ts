/**
 * Frames of one client: Arrow encoding of tensors/tables, and the shared-memory negotiation — the
 * private /dev/shm directory offered in `hello`, large request frames written to pooled files,
 * files offered for large results, reply frames read back from them. Without a ShmPool every frame
 * goes over the socket (remote workers, tcp:// endpoints).
 */
import type { Table } from "apache-arrow";
import { decodeTable, decodeTensor, encodeChunks, tensorToTable, TensorCodecError, type Tensor } from "./codec.js";
import { WorkerError } from "./errors.js";
import type { FrameDescriptor } from "./protocol.js";
import { DEFAULT_SHM_MIN_BYTES, ShmPool, shmRoot, type Slot } from "./shm.js";

/** An input frame: a tensor (tensor layout) or an Arrow table (table layout). */
export type InFrame = { name: string; tensor: Tensor } | { name: string; table: Table };
/** An output frame as decoded. */
export type OutFrame = { name: string; tensor: Tensor } | { name: string; table: Table };

/** How many pooled shm files a request offers the worker for its large results. */
const SHM_OUT_OFFER = 2;
const EMPTY = new Uint8Array(0);

export interface EncodedFrames {
  descriptors: FrameDescriptor[];
  parts: Uint8Array[];
  /** shm files lent to this request; give them back with `release` once the reply is in */
  slots: Slot[];
}

export class FrameChannel {
  private constructor(
    private readonly shm: ShmPool | null,
    private readonly shmMinBytes: number,
    readonly maxMessageBytes: number,
  ) {}

  /** `useShm` undefined: on for ipc:// endpoints where /dev/shm exists. */
  static open(endpoint: string, maxMessageBytes: number, useShm?: boolean, shmMinBytes = DEFAULT_SHM_MIN_BYTES): FrameChannel {
    const on = useShm ?? (endpoint.startsWith("ipc://") && shmRoot() !== null);
    return new FrameChannel(on ? ShmPool.create() : null, shmMinBytes, maxMessageBytes);
  }

  /** Every frame over the socket (a worker on another host). */
  static socketOnly(maxMessageBytes: number): FrameChannel {
    return new FrameChannel(null, DEFAULT_SHM_MIN_BYTES, maxMessageBytes);
  }

  /** The private directory of shm frames, or null. */
  get dir(): string | null {
    return this.shm?.dir ?? null;
  }

  /** What `hello` tells the worker about the shm directory. */
  helloArgs(): Record<string, unknown> {
    return this.shm ? { shm_dir: this.shm.dir, shm_min_bytes: this.shmMinBytes } : {};
  }

  /** Encode request frames; large ones go to shm files. Throws WorkerError (nothing left lent). */
  async encode(op: string, frames: readonly InFrame[]): Promise<EncodedFrames> {
    const out: EncodedFrames = { descriptors: [], parts: [], slots: [] };
    let size = 0;
    try {
      for (const f of frames) {
        const chunks = await encodeChunks("tensor" in f ? tensorToTable(f.tensor) : f.table);
        const bytes = chunks.reduce((n, c) => n + c.byteLength, 0);
        size += bytes;
        if (size > this.maxMessageBytes) break;
        const layout = "tensor" in f ? "tensor" : "table";
        if (this.shm && bytes >= this.shmMinBytes) {
          const slot = this.shm.acquire(bytes);
          out.slots.push(slot);
          this.shm.write(slot, chunks);
          out.descriptors.push({ name: f.name, layout, bytes, shm: slot.name });
          out.parts.push(EMPTY);
        } else {
          out.descriptors.push({ name: f.name, layout, bytes });
          out.parts.push(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, bytes));
        }
      }
    } catch (err) {
      this.release(out.slots);
      throw new WorkerError(err instanceof TensorCodecError ? "TensorInvalid" : "FramesInvalid", `op ${op}: ${(err as Error).message}`, op);
    }
    if (size > this.maxMessageBytes) {
      this.release(out.slots);
      throw new WorkerError("MessageTooLarge", `op ${op}: request is over ${size} bytes, over the limit of ${this.maxMessageBytes} bytes; pass bulk data as files`, op);
    }
    return out;
  }

  /** Files the worker may overwrite with large results (none without shm). */
  offer(): Slot[] {
    return this.shm ? this.shm.offer(SHM_OUT_OFFER) : [];
  }

  /** Decode reply frames; a result in a file the worker made itself joins `slots` (ours now). */
  decode(op: string, descriptors: readonly FrameDescriptor[], frames: readonly Uint8Array[], slots: Slot[]): OutFrame[] {
    return descriptors.map((d, i) => {
      let bytes: Uint8Array = frames[i]!;
      if (d.shm !== undefined) {
        if (!this.shm) throw new WorkerError("ReplyInvalid", `op ${op}: reply frame '${d.name}' is in shm but this client has no shm directory`, op);
        bytes = this.shm.read(d.shm, d.bytes ?? 0);
        if (!slots.some((s) => s.name === d.shm)) slots.push({ name: d.shm, size: d.bytes ?? 0 });
      }
      const what = `op ${op} reply frame '${d.name}'`;
      return d.layout === "tensor" ? { name: d.name, tensor: decodeTensor(bytes, what) } : { name: d.name, table: decodeTable(bytes, what) };
    });
  }

  /** The worker is done with these files: back to the pool. */
  release(slots: readonly Slot[]): void {
    for (const s of slots) this.shm?.release(s);
  }

  close(): void {
    this.shm?.close();
  }
}
