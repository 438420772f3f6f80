// `lo-exp serve RUN_DIR --build-index`: build (or rebuild) the EmbeddingStore's ANN index now and save it
// beside the store (<store_dir>/index/), so that a service with `serve.index: ann` starts without building
// it. Worker op `build_index` (py/linkedout/serve/ops.py); docs/serving.md.
import { startWorker, WorkerError } from "../worker/index.js";
import { checkRunDir, serveSettingsForRun, type ServeSettings } from "./config.js";
import { ServeError } from "./errors.js";

export interface BuildIndexResult {
  index_dir: string;
  n_indexed: number;
  build_s: number;
  factory: string;
  note: string | null;
}

export async function buildAnnIndex(opts: { runDir: string; overrides?: Partial<Omit<ServeSettings, "bench">> }): Promise<BuildIndexResult> {
  const settings: ServeSettings = { ...serveSettingsForRun(opts.runDir), ...opts.overrides };
  const { runDir, storeDir } = checkRunDir(opts.runDir, settings);
  const worker = await startWorker({ device: "cpu", threads: settings.threads });
  try {
    const r = await worker.call<"build_index", BuildIndexResult>("build_index", { run_dir: runDir, store_dir: storeDir, ann: settings.ann, threads: settings.threads });
    return r.result;
  } catch (err) {
    if (err instanceof WorkerError) throw new ServeError(`serve --build-index ${opts.runDir}: ${err.message.split("\n")[0]}`);
    throw err;
  } finally {
    await worker.close();
  }
}
