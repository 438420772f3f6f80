// `lo-exp add-items RUN_DIR VIDEOS…`: cold-start onboarding (docs/serving.md). The worker op `add_items`
// extracts the new videos with the catalogue's extraction settings, fuses them with the trained item
// tower and appends them to the run's EmbeddingStore — no retraining. A running `lo-exp serve` of the
// same run picks them up within serve.refresh_s.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { ServeError } from "./errors.js";
import { readCsv } from "../data/csv.js";
import { startWorker, WorkerError, type OpArgs, type ProgressInfo } from "../worker/index.js";
import { checkRunDir, serveSettingsForRun } from "./config.js";

export interface AddItemsOptions {
  runDir: string;
  /** video files: `PATH` (item id = file name without extension, as MicroLens `<item>.mp4`) or `ITEM=PATH` */
  videos: string[];
  /** optional CSV `item,title` (MicroLens titles format; a header row `item,title` is skipped) */
  titlesCsv?: string;
  threads?: number;
  onProgress?: (p: ProgressInfo) => void;
}

export interface AddItemsResult {
  added: string[];
  failed: { item: string; reason: string }[];
  n_items: number;
  model_version: string;
  token_store: string;
}

/** One video to add (the `add_items` op's `videos` entry, schemas/protocol/ops/add_items.args.schema.json). */
export type NewVideo = OpArgs["add_items"]["videos"][number];

/** Parse `PATH` / `ITEM=PATH` arguments; every problem names the argument. */
export function parseVideoArgs(args: readonly string[], titles: ReadonlyMap<string, string> = new Map()): NewVideo[] {
  if (args.length === 0) throw new ServeError("add-items: name at least one video file");
  const seen = new Map<string, string>();
  return args.map((arg) => {
    const eq = arg.indexOf("=");
    const item = eq > 0 ? arg.slice(0, eq) : path.basename(arg).replace(/\.[^.]+$/, "");
    const file = path.resolve(eq > 0 ? arg.slice(eq + 1) : arg);
    if (!item) throw new ServeError(`${arg}: cannot tell the item id (use ITEM=PATH)`);
    if (!existsSync(file)) throw new ServeError(`${arg}: no such video file`);
    const before = seen.get(item);
    if (before) throw new ServeError(`${arg}: item id '${item}' is also given by ${before}`);
    seen.set(item, arg);
    const title = titles.get(item);
    return title !== undefined ? { item, video: file, title } : { item, video: file };
  });
}

/** item -> title from a MicroLens-style CSV (errors name file and line). */
export function readTitles(file: string): Map<string, string> {
  if (!existsSync(file)) throw new ServeError(`${file}: no such titles file`);
  const out = new Map<string, string>();
  for (const rec of readCsv(readFileSync(file, "utf8"))) {
    if (rec.line === 1 && rec.fields[0] === "item") continue;
    if (rec.fields.length !== 2 || !rec.fields[0]) throw new ServeError(`${file}:${rec.line}: expected 2 fields item,title`);
    out.set(rec.fields[0], rec.fields[1]!);
  }
  return out;
}

export async function addItems(opts: AddItemsOptions): Promise<AddItemsResult> {
  const settings = serveSettingsForRun(opts.runDir);
  const { runDir, storeDir } = checkRunDir(opts.runDir, settings);
  const videos = parseVideoArgs(opts.videos, opts.titlesCsv ? readTitles(opts.titlesCsv) : new Map());
  const worker = await startWorker({ device: "cpu", threads: opts.threads ?? 1 });
  try {
    const r = await worker.call<"add_items", AddItemsResult>("add_items", { run_dir: runDir, store_dir: storeDir, videos }, { onProgress: opts.onProgress });
    return r.result;
  } catch (err) {
    if (err instanceof WorkerError) throw new ServeError(`add-items ${opts.runDir}: ${err.message.split("\n")[0]}`);
    throw err;
  } finally {
    await worker.close();
  }
}
