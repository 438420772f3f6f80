// generated, do not edit: `npm run gen:config` (scripts/gen-ops.ts) writes this file from
// schemas/protocol/ops/<op>.args.schema.json; change the schema, then regenerate.
/* eslint-disable */

/**
 * Each op's args, by op name (schemas/protocol/ops/<op>.args.schema.json).
 */
export interface OpArgs {
  add_items: AddItemsArgs;
  bench_add_items: BenchAddItemsArgs;
  bench_extract: BenchExtractArgs;
  bench_rank_floor: BenchRankFloorArgs;
  bench_serve: BenchServeArgs;
  bench_serve_scale: BenchServeScaleArgs;
  bench_train: BenchTrainArgs;
  build_index: BuildIndexArgs;
  build_tiny_model: BuildTinyModelArgs;
  echo: EchoArgs;
  embed: EmbedArgs;
  extract: ExtractArgs;
  finalize_store: FinalizeStoreArgs;
  hello: HelloArgs;
  matmul: MatmulArgs;
  ping: PingArgs;
  plot_report: PlotReportArgs;
  rank: RankArgs;
  recommend: RecommendArgs;
  render_videos: RenderVideosArgs;
  shutdown: ShutdownArgs;
  train: TrainArgs;
}
export interface AddItemsArgs {
  /**
   * training run directory (best.pt)
   */
  run_dir: string;
  /**
   * EmbeddingStore directory; default <run_dir>/embeddings
   */
  store_dir?: string;
  /**
   * the catalogue's TokenStore (its settings are reused); default: the one recorded by embed in store.json
   */
  token_store?: string;
  /**
   * backbone directory or hub id; default: the one recorded in the catalogue TokenStore
   */
  model_path?: string;
  model_dtype?: "auto" | "float32" | "bfloat16" | "float16";
  /**
   * extraction rows per generate call
   */
  batch_size?: number;
  /**
   * the new items: id, video file, and side channels (e.g. title) as in items.arrow
   *
   * @minItems 1
   */
  videos: {
    item: string;
    video: string;
    title?: string;
    [k: string]: string | undefined;
  }[];
}
export interface BenchAddItemsArgs {
  store_dir: string;
  count: number;
  /**
   * EmbeddingStore.add calls
   */
  batches?: number;
}
/**
 * Benchmark extraction: the same generate call with and without the forward hooks; extraction end to end; 2 prompts vs 1 (py/linkedout/bench/extract.py).
 */
export interface BenchExtractArgs {
  /**
   * 7B-configuration model with random bf16 weights on the worker's GPU; otherwise the tiny model on CPU.
   */
  gpu?: boolean;
  /**
   * CPU only: a local model directory instead of a freshly built tiny model.
   */
  model_path?: string;
  /**
   * Videos per generate call (default [8] on CPU, [1,2,4,8,16,32] on GPU).
   */
  batch_sizes?: number[];
  /**
   * Frames per video (default [8] on CPU, [8,32] on GPU).
   */
  frames?: number[];
  /**
   * Videos per configuration (0: max(2 x batch, 64 on CPU / 16 on GPU)).
   */
  items?: number;
  /**
   * Paired plain/hooks repeats; the median ratio is reported.
   */
  repeats?: number;
  /**
   * Tokens generated per video.
   */
  max_new_tokens?: number;
  /**
   * Rendered videos extracted end to end (0: 16 on CPU, 32 on GPU).
   */
  e2e_videos?: number;
  /**
   * Rendered videos extracted with 1 and with 2 prompts for prompts_2_vs_1 (0: 3 on CPU, 16 on GPU).
   */
  ratio_videos?: number;
  /**
   * Alternating repeats of the prompts_2_vs_1 runs (0: min(repeats, 3)).
   */
  ratio_repeats?: number;
  /**
   * Frames per video for prompts_2_vs_1 (0: 12 on CPU, so that prefill is >= 80 % of a row; 8 on GPU).
   */
  ratio_frames?: number;
  /**
   * Random backbone of prompts_2_vs_1 (py/linkedout/extract/tiny_model.py; empty: lm-small on CPU, 7b on GPU).
   */
  ratio_shape?: "" | "lm-small" | "0.5b-lm" | "7b";
}
/**
 * The bare ranking floor of `lo-exp bench scale` (py/linkedout/bench/rank.py): random users x items float32 scores per batch, matmul + topk + target rank by one count. Result: {seconds, users, items, threads}.
 */
export interface BenchRankFloorArgs {
  /**
   * Users ranked (this worker's share).
   */
  users: number;
  /**
   * Catalogue size.
   */
  items: number;
  /**
   * Vector width (the model's d_z).
   */
  d: number;
  /**
   * Top-K length (train.topk).
   */
  k?: number;
  /**
   * Users per batch, as the rank op uses them.
   */
  batch_users?: number;
  /**
   * torch threads for the call; null = the worker's own setting (as the rank op runs).
   */
  threads?: number | null;
}
export interface BenchServeArgs {
  /**
   * @minItems 1
   */
  catalogues?: number[];
  /**
   * timed single queries per path and catalogue
   */
  queries?: number;
  batch?: number;
  k?: number;
  /**
   * stop timing path (b) after this long (at least 3 queries)
   */
  paper_budget_s?: number;
  /**
   * 0 skips path (a)
   */
  vllm_queries?: number;
  vllm_candidates?: number;
  /**
   * tiny LLaVA-OneVision for (a); default: built under work_dir
   */
  tiny_model_dir?: string;
  /**
   * scratch directory (tiny model)
   */
  work_dir?: string;
  /**
   * write a servable run (best.pt + embeddings) here
   */
  load_run_dir?: string;
  /**
   * items of that run; default the first catalogue
   */
  load_catalogue?: number;
}
export interface BenchServeScaleArgs {
  /**
   * catalogue size
   */
  items: number;
  /**
   * queries from topic histories (recall and latency over all of them)
   */
  queries?: number;
  /**
   * single exact queries timed, interleaved with the ANN ones
   */
  exact_timed?: number;
  k?: number;
  ann?: Ann;
  /**
   * the servable run goes to <work_dir>/run-<items>
   */
  work_dir: string;
}
/**
 * serve.ann (schemas/config/serve.schema.json)
 */
export interface Ann {
  /**
   * `serve.index: auto` ranks exactly up to this many items (at 200k exact top-K costs ~5 ms on one thread) and uses the index above.
   */
  exact_up_to?: number;
  /**
   * IVF lists (k-means centroids) of the index; 0 = 4·√N for N items at build time (at most N/8).
   */
  nlist?: number;
  /**
   * Lists searched per query (recall and latency grow with it); ≥ nlist searches exhaustively, giving the exact answers.
   */
  nprobe?: number;
  /**
   * Once this many items were added since the index was built (the delta segment, scored exactly), a background thread folds them into a copy of the index and swaps it in; requests are answered meanwhile.
   */
  rebuild_after?: number;
}
/**
 * Benchmark training throughput (user sequences/s) of the default recommender and train config on the worker's device (py/linkedout/bench/train.py). Result: one row per precision.
 */
export interface BenchTrainArgs {
  /**
   * TokenStore shapes: tiny = the quick-start backbone (d=64, 2 taps); 7b = LLaVA-OneVision-7B (d=3584, 7 taps); M=32, N_new=7, 2 prompts.
   */
  preset?: "tiny" | "7b";
  /**
   * Sequences per step; 0 = train.batch_size default (256).
   */
  batch_size?: number;
  /**
   * Measured steps (median reported).
   */
  steps?: number;
  /**
   * Unmeasured steps first.
   */
  warmup?: number;
  /**
   * Precisions to run; [] = fp32 on CPU, fp32 and bf16 on GPU.
   */
  precisions?: ("fp32" | "bf16" | "fp16")[];
}
export interface BuildIndexArgs {
  /**
   * training run directory
   */
  run_dir: string;
  /**
   * EmbeddingStore directory; default <run_dir>/embeddings
   */
  store_dir?: string;
  ann?: Ann1;
  /**
   * false: keep a saved index that is current
   */
  rebuild?: boolean;
  /**
   * threads of the build
   */
  threads?: number | null;
}
/**
 * the resolved serve.ann section (schemas/config/serve.schema.json, the one place its keys and defaults are written)
 */
export interface Ann1 {
  /**
   * `serve.index: auto` ranks exactly up to this many items (at 200k exact top-K costs ~5 ms on one thread) and uses the index above.
   */
  exact_up_to?: number;
  /**
   * IVF lists (k-means centroids) of the index; 0 = 4·√N for N items at build time (at most N/8).
   */
  nlist?: number;
  /**
   * Lists searched per query (recall and latency grow with it); ≥ nlist searches exhaustively, giving the exact answers.
   */
  nprobe?: number;
  /**
   * Once this many items were added since the index was built (the delta segment, scored exactly), a background thread folds them into a copy of the index and swaps it in; requests are answered meanwhile.
   */
  rebuild_after?: number;
}
/**
 * Build a random-initialised tiny LLaVA-OneVision (model, offline-trained tokenizer, chat template, processor) with save_pretrained (py/linkedout/extract/tiny_model.py). Deterministic from seed.
 */
export interface BuildTinyModelArgs {
  /**
   * Directory to write (created if missing).
   */
  out: string;
  /**
   * Language model hidden size (a multiple of its 4 attention heads).
   */
  hidden?: number;
  /**
   * Language model decoder layers.
   */
  layers?: number;
  /**
   * Frame side in pixels (patch size 8, so (image_size/8)^2 patches per frame).
   */
  image_size?: number;
  /**
   * Seeds the random weights.
   */
  seed?: number;
}
export interface EchoArgs {
  /**
   * any JSON, returned as result.value
   */
  value?: unknown;
  /**
   * sleep this long first (in progress_steps steps if given)
   */
  delay_s?: number;
  /**
   * emit this many progress messages
   */
  progress_steps?: number;
  /**
   * raise RuntimeError(raise_error) in the handler (tests the error path)
   */
  raise_error?: string;
}
export interface EmbedArgs {
  /**
   * training run directory (best.pt)
   */
  run_dir: string;
  /**
   * the split the run trained on (items.arrow gives catalogue order); default: split_dir of <run_dir>/spec.json
   */
  split_dir?: string;
  /**
   * TokenStore directory of the catalogue; null = the one the run was trained on (store of <run_dir>/spec.json; null for ID-only models)
   */
  store?: string | null;
  /**
   * store directory; default <run_dir>/embeddings
   */
  out?: string;
  /**
   * items per item-tower forward
   */
  batch_size?: number;
  /**
   * torch intra-op threads for this call: the run's cores (the stage runs on one worker); null = the worker's own setting
   */
  threads?: number | null;
  /**
   * serve.index of the run: `ann`, or `auto` above ann.exact_up_to items, also builds the ANN index beside the store (<out>/index/)
   */
  index?: "exact" | "ann" | "auto";
  ann?: Ann2;
}
/**
 * the resolved serve.ann section (schemas/config/serve.schema.json, the one place its keys and defaults are written)
 */
export interface Ann2 {
  /**
   * `serve.index: auto` ranks exactly up to this many items (at 200k exact top-K costs ~5 ms on one thread) and uses the index above.
   */
  exact_up_to?: number;
  /**
   * IVF lists (k-means centroids) of the index; 0 = 4·√N for N items at build time (at most N/8).
   */
  nlist?: number;
  /**
   * Lists searched per query (recall and latency grow with it); ≥ nlist searches exhaustively, giving the exact answers.
   */
  nprobe?: number;
  /**
   * Once this many items were added since the index was built (the delta segment, scored exactly), a background thread folds them into a copy of the index and swaps it in; requests are answered meanwhile.
   */
  rebuild_after?: number;
}
/**
 * Extract one shard of items into a TokenStore (py/linkedout/extract/extractor.py). Resumable: finished items are skipped; failed items are recorded, and retried only with retry_failed.
 */
export interface ExtractArgs {
  /**
   * TokenStore directory (created if missing).
   */
  store: string;
  /**
   * Content hash naming the store (written to the manifest).
   */
  key: string;
  /**
   * Dataset identity, recorded in the manifest.
   */
  dataset?: string;
  /**
   * This shard's index.
   */
  shard: number;
  /**
   * How many shards the catalogue is split into.
   */
  num_shards: number;
  /**
   * Re-attempt items recorded as failed.
   */
  retry_failed?: boolean;
  /**
   * The shard's items, in catalogue order.
   */
  items: {
    /**
     * Item id.
     */
    item: string;
    /**
     * Video file path (empty: the item fails as missing).
     */
    video: string;
    /**
     * Side-channel columns (title, transcript, ...).
     */
    [k: string]: string | number | null | undefined;
  }[];
  model: {
    /**
     * Local model directory or hub id.
     */
    path: string;
    /**
     * Compute dtype; auto = bf16 on GPU, fp32 on CPU.
     */
    dtype?: "auto" | "float32" | "float16" | "bfloat16";
  };
  extract?: ExtractSection;
}
/**
 * The resolved `extract` config section (schemas/config/extract.schema.json, the one place its keys and defaults are written) less its `x-scheduler-only` keys, which ExtractSettings.from_json refuses.
 */
export interface ExtractSection {
  /**
   * Frames sampled uniformly from each video (T, paper §3.1).
   */
  frames?: number;
  /**
   * The prompt bank: canonical prompts, one extraction per (item, prompt) (paper §3.4).
   *
   * @minItems 1
   */
  prompts?: string[];
  /**
   * Side channels put before the prompt as `Name: value` lines, in this order, for items that have a value: `title` (the titles file) and any column of the dataset's MicroLens-<variant>_side.csv (transcript, tags, ...; docs/data.md). A name that is neither stops the run before work starts.
   */
  side_channels?: string[];
  /**
   * Longer side-channel text is cut to this many characters.
   */
  side_channel_max_chars?: number;
  /**
   * Tap every k-th decoder layer from the first: 0-based layers 0, k, 2k, ... (paper §4.3: every four layers; its Fig. 4/5 label them L0, L4, ...). Used when `taps` is empty. The MoE fuses exactly these; the last layer is stored as well (for the last-layer ablation).
   */
  tap_every?: number;
  /**
   * Explicit 0-based decoder layers to tap (negative counts from the end); overrides tap_every when non-empty. The MoE fuses exactly these (recommender.layers = tapped); the last layer is stored as well, so recommender.layers = last reads it from the same extraction.
   */
  taps?: number[];
  /**
   * M: old tokens kept per tap after ToMe bipartite merging.
   */
  merged_tokens?: number;
  /**
   * Tokens generated per (item, prompt); min_new_tokens is set equal. max_new_tokens - 1 new tokens have a hidden state (the last sampled token is never fed back).
   */
  max_new_tokens?: number;
  /**
   * (item, prompt) rows per generate call (max(1, batch_size / prompts) items).
   */
  batch_size?: number;
  /**
   * Precision of the stored token features.
   */
  store_dtype?: "float16" | "bfloat16";
  /**
   * Target items per shard: the catalogue is split into ceil(items / shard_size) shards by item-id hash. Keep it fixed while a store is unfinished.
   */
  shard_size?: number;
  /**
   * Re-attempt items recorded as failed (bad videos) on a rerun.
   */
  retry_failed?: boolean;
  /**
   * Attempts per shard when its worker dies (each retry goes to another worker).
   */
  max_attempts?: number;
  /**
   * Who runs the shards: `workers` = linkedout's own worker pool (workers section, ZeroMQ); `ray` = one Ray actor per GPU, each loading the backbone once and pulling shards (extract.ray, docs/cluster.md; needs the ray extra). Not part of the store key: both write the same bytes.
   */
  engine?: "workers" | "ray";
  /**
   * The Ray engine (extract.engine: ray; py/linkedout/cluster/ray_launcher.py).
   */
  ray?: {
    /**
     * "" = start a private local Ray cluster for this run and stop it after; `auto` or ray://HOST:PORT = join a running cluster (whose nodes must see cache_dir, the dataset and the model at the same paths).
     */
    address?: string;
    /**
     * Re-runs of a shard whose Ray actor process or node died, each on a fresh actor (a re-run resumes the shard's part files).
     */
    max_retries?: number;
    /**
     * GPUs per shard actor when the cluster has GPUs (none are asked for on a CPU-only cluster); each actor loads the backbone once and runs shard after shard.
     */
    gpus_per_shard?: number;
    /**
     * CPUs per shard actor (it uses workers.threads torch threads).
     */
    cpus_per_shard?: number;
    /**
     * CPUs of the private local cluster (address ""); 0 = all of this host's (its GPUs are always all offered). Actors: one per gpus_per_shard GPUs (cpus_per_shard CPUs on a CPU-only cluster), as many as the cluster holds.
     */
    local_cpus?: number;
    /**
     * Object store of the private local cluster, MiB (shards go to disk, not through it).
     */
    object_store_mb?: number;
  };
}
/**
 * Build a TokenStore's manifest.json once every shard is committed, reading each shard summary once (py/linkedout/store/token_store/finalize.py finalize_store); checks every item is present exactly once.
 */
export interface FinalizeStoreArgs {
  /**
   * The TokenStore directory.
   */
  store: string;
  /**
   * Every catalogue item id; when given, each must be in the store exactly once (extracted or failed) and no other.
   */
  items?: string[];
}
export interface HelloArgs {
  /**
   * the protocol version the caller speaks
   */
  protocol: number;
  /**
   * a private (0700, same user) directory, normally under /dev/shm, for shm frames of tensors of at least shm_min_bytes; omit to keep all frames on the socket
   */
  shm_dir?: string;
  /**
   * result frames at least this large go through shm_dir
   */
  shm_min_bytes?: number;
}
export interface MatmulArgs {}
export interface PingArgs {}
/**
 * Write a run's PNG plots (py/linkedout/report): gate-weight KDE and box plots with average contribution % (paper Figs. 4-5) from gates.arrow, training curves from train_log.arrow (per step) and epochs.arrow (per epoch); an experiment table's metrics with 95 % error bars from table.arrow. Files are written then renamed.
 */
export interface PlotReportArgs {
  /**
   * Folder for the PNG files (created if missing).
   */
  out_dir: string;
  /**
   * gates.arrow: the training loop's format (item, gates fixed_size_list<float32>[T], metadata taps) or long format (item, layer, gate); empty = no gate plots.
   */
  gates_path?: string;
  /**
   * train_log.arrow (epoch/step + numeric columns); empty = no training curves.
   */
  train_log_path?: string;
  /**
   * Plot title prefix (e.g. the run name).
   */
  title?: string;
  /**
   * epochs.arrow (epoch + per-epoch columns such as valid_hr10); empty = no epoch curves.
   */
  epochs_path?: string;
  /**
   * table.arrow of an experiment table (ts/schedule/table.ts): table.png, one panel per slice and metric, bars at the mean with 95 % interval error bars and a dot per seed; empty = none.
   */
  table_path?: string;
}
/**
 * Rank one contiguous shard of a split's users against the whole catalogue with a finished run's best weights (history masked, ties by catalogue index) and write an Arrow IPC file in the ranks.arrow format. Result: out, users, start, stop, hr10, ndcg10.
 */
export interface RankArgs {
  /**
   * A finished training run (best.pt, spec.json).
   */
  run_dir: string;
  /**
   * Which held-out split to rank.
   */
  split: "valid" | "test";
  /**
   * User shard: users are cut into `count` contiguous, equal (last shorter) ranges in file order.
   */
  shard: {
    /**
     * This shard, 0-based.
     */
    index: number;
    /**
     * Number of shards.
     */
    count: number;
  };
  /**
   * Output Arrow file (written to a temporary name, then renamed).
   */
  out: string;
  /**
   * Split directory; empty = the one the run was trained on.
   */
  split_dir?: string;
  /**
   * TokenStore directory; null = the one the run was trained on.
   */
  store?: string | null;
  /**
   * Length of the top-K list per user; absent = train.topk of the run.
   */
  topk?: number;
  /**
   * Users scored per matrix product; absent = train.eval_batch_users of the run.
   */
  batch_users?: number;
}
export interface RecommendArgs {
  /**
   * training run directory (best.pt)
   */
  run_dir: string;
  /**
   * EmbeddingStore directory; default <run_dir>/embeddings
   */
  store_dir?: string;
  /**
   * largest k a query may ask for
   */
  max_k?: number;
  /**
   * check the store for added items at most this often
   */
  refresh_s?: number;
  /**
   * serve.index (schemas/config/serve.schema.json): exact, ann, or auto (exact up to ann.exact_up_to items)
   */
  index?: "exact" | "ann" | "auto";
  /**
   * serve.tower: frozen (checked bitwise at load, else eager) or eager
   */
  tower?: "frozen" | "eager";
  ann?: Ann3;
  /**
   * threads of a FAISS index build (serve.threads)
   */
  threads?: number | null;
  /**
   * empty: only load the store and report the catalogue. Each query is validated in the handler and answered with items or an error object (status, message) of its own.
   *
   * @maxItems 65536
   */
  queries: {
    /**
     * oldest first; 1..10 item ids
     */
    history: string[];
    k?: number;
    /**
     * further item ids never to return
     */
    exclude?: string[];
    /**
     * return π of the returned items
     */
    gates?: boolean;
  }[];
}
/**
 * the resolved serve.ann section (schemas/config/serve.schema.json, the one place its keys and defaults are written)
 */
export interface Ann3 {
  /**
   * `serve.index: auto` ranks exactly up to this many items (at 200k exact top-K costs ~5 ms on one thread) and uses the index above.
   */
  exact_up_to?: number;
  /**
   * IVF lists (k-means centroids) of the index; 0 = 4·√N for N items at build time (at most N/8).
   */
  nlist?: number;
  /**
   * Lists searched per query (recall and latency grow with it); ≥ nlist searches exhaustively, giving the exact answers.
   */
  nprobe?: number;
  /**
   * Once this many items were added since the index was built (the delta segment, scored exactly), a background thread folds them into a copy of the index and swaps it in; requests are answered meanwhile.
   */
  rebuild_after?: number;
}
/**
 * Render one synthetic .mp4 and cover .jpg per item spec (py/linkedout/data/render.py). Resumable: existing video+cover pairs are skipped unless overwrite.
 */
export interface RenderVideosArgs {
  /**
   * Directory for <item>.mp4 (created if missing).
   */
  videos_dir: string;
  /**
   * Directory for <item>.jpg (created if missing).
   */
  covers_dir: string;
  /**
   * Frame width in pixels (even, for yuv420p).
   */
  width?: number;
  /**
   * Frame height in pixels (even, for yuv420p).
   */
  height?: number;
  /**
   * Frames per second.
   */
  fps?: number;
  /**
   * Video encoder: mpeg4 (MPEG-4 part 2, default) or libx264 (H.264, lookahead off); one thread, deterministic.
   */
  codec?: "mpeg4" | "libx264";
  /**
   * Re-render items whose files already exist.
   */
  overwrite?: boolean;
  /**
   * One visual spec per item.
   */
  specs: {
    /**
     * Item id; the file name stem.
     */
    item: string;
    /**
     * Background RGB.
     *
     * @minItems 3
     * @maxItems 3
     */
    background: number[];
    /**
     * Shape RGB.
     *
     * @minItems 3
     * @maxItems 3
     */
    foreground: number[];
    /**
     * Foreground shape.
     */
    shape: "circle" | "ring" | "square" | "diamond" | "triangle" | "cross" | "bar";
    /**
     * How the shape moves over the clip.
     */
    motion: "left_right" | "up_down" | "orbit" | "diagonal" | "zoom" | "spin";
    /**
     * Shape half-extent as a fraction of the frame side.
     */
    size: number;
    /**
     * Fixed rotation of the shape, degrees.
     */
    angle?: number;
    /**
     * Motion cycles over the clip.
     */
    speed?: number;
    /**
     * Start of the motion cycle.
     */
    phase?: number;
    /**
     * Clip duration in seconds.
     */
    seconds: number;
    /**
     * Per-pixel uniform noise amplitude.
     */
    noise?: number;
    /**
     * Seeds the per-pixel noise.
     */
    seed?: number;
  }[];
}
export interface ShutdownArgs {}
/**
 * Train (or resume) one recommender run: a training spec (py/linkedout/train/spec.py). Streams one progress message per epoch; result = the run summary (best_valid_hr10, epochs_done, valid/test HR@10, ...). The same JSON is what `python -m linkedout.train --spec` reads.
 */
export interface TrainArgs {
  /**
   * Output directory: spec.json, checkpoint.pt, best.pt, train_log.arrow, epochs.arrow, gates.arrow, ranks.arrow.
   */
  run_dir: string;
  /**
   * Directory with items.arrow, train.arrow, valid.arrow, test.arrow (docs/architecture.md).
   */
  split_dir: string;
  /**
   * TokenStore directory; null for ID-only models (recommender.item_content=false).
   */
  store?: string | null;
  /**
   * The resolved `recommender` config section (schemas/config/recommender.schema.json); checked strictly in Python (unknown key = error).
   */
  recommender?: object;
  /**
   * The resolved `train` config section (schemas/config/train.schema.json); checked strictly in Python.
   */
  train?: object;
  /**
   * Continue from run_dir/checkpoint.pt when it exists (a checkpoint of a different config is an error).
   */
  resume?: boolean;
  /**
   * Leave after this many finished epochs (preemptible jobs); rerun with resume to continue.
   */
  stop_after_epoch?: number | null;
  /**
   * At the end, write ranks.arrow for all valid and test users with the best weights.
   */
  write_ranks?: boolean;
  /**
   * auto (the worker's device) | cpu | cuda | cuda:N.
   */
  device?: string;
  /**
   * torch intra-op threads for this call (not part of the spec): the run's cores when training runs on one worker while the others idle; null = the worker's own setting.
   */
  threads?: number | null;
}

/** An op the worker registry serves. */
export type OpName = keyof OpArgs;

/** Ops whose schema says `"x-idempotent": true`: a second run after the first died part-way gives the same result. */
export const IDEMPOTENT_OPS: ReadonlySet<OpName> = new Set<OpName>(["build_tiny_model", "embed", "extract", "plot_report", "rank", "render_videos"]);
