// `lo-exp model tiny`: a tiny random LLaVA-OneVision for tests and the quick start (the CLI verb
// ts/cli/commands/model.ts is a thin shell over this; the model is built by the worker's build_tiny_model op).
import { resolve } from "node:path";
import { startWorker, type WorkerClient } from "../worker/index.js";

export interface TinyModelShape {
  hidden: number;
  layers: number;
  image_size: number;
  seed: number;
}

export interface TinyModelSummary {
  path: string;
  parameters: number;
  layers: number;
  hidden: number;
  image_size: number;
  patches_per_frame: number;
  tokens_per_frame: number;
  vocab: number;
  seed: number;
}

/** Build the tiny random LLaVA-OneVision into `out` (save_pretrained) on a fresh CPU worker. */
export async function buildTinyModel(out: string, shape: TinyModelShape, worker?: WorkerClient): Promise<TinyModelSummary> {
  const w = worker ?? (await startWorker({ device: "cpu", threads: 1 }));
  try {
    const r = await w.call<"build_tiny_model", TinyModelSummary>("build_tiny_model", { out: resolve(out), ...shape });
    return r.result;
  } finally {
    if (!worker) await w.close();
  }
}
