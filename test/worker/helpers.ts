import { expect } from "chai";
import { WorkerError } from "../../ts/worker/index.js";

/** Await a call that must reject with a WorkerError, and return that error for further checks. */
export async function rejection(p: Promise<unknown>): Promise<WorkerError> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(WorkerError);
    return err as WorkerError;
  }
  throw new Error("expected the call to reject");
}
