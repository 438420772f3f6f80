/** A failed worker call: `type` is the wire error type (or a client-side one), `op` the op it was for. */
export class WorkerError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly op?: string,
    readonly traceback?: string,
  ) {
    super(message);
    this.name = "WorkerError";
  }
}
