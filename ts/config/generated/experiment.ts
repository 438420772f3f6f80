// generated, do not edit: `npm run gen:config` (scripts/gen-config.ts) writes this file from
// schemas/experiment.schema.json and schemas/config/*.schema.json; change the schema, then regenerate.
/* eslint-disable */

/**
 * One experiment: dataset, backbone, extraction, recommender, training, evaluation. Layers: these defaults, then the YAML (with `extends:`), then `--set a.b=v`.
 */
export interface ExperimentConfig {
  /**
   * Path or URL of this schema, for editor completion. Ignored by lo-exp.
   */
  $schema: string;
  /**
   * Another config file (path relative to this one) whose values this one overrides.
   */
  extends: string;
  /**
   * Run name (letters, digits, . _ -); results go to <results_dir>/<name>/.
   */
  name: string;
  /**
   * Stage cache: every stage's output lives in <cache_dir>/<stage>/<content hash>/, shared by all configs (an ablation reuses the extraction it shares). Not part of any stage's key.
   */
  cache_dir: string;
  /**
   * Results root: a run writes results/<name>/ (metrics.arrow, ranks.arrow, gates.arrow, train_log.arrow, table.md, plots, resolved.yaml). Not part of any stage's key.
   */
  results_dir: string;
  /**
   * Treat any failed item (e.g. an undecodable video) as a failed run: `lo-exp run` still writes the results, then exits non-zero (code 3). `--strict` on the command line sets it. Not part of any stage's key.
   */
  strict: boolean;
  /**
   * How held-out targets are ranked: `model` trains the recommender (extract → train), `popularity` ranks every item by its training-interaction count with no training and no content (the Pop baseline).
   */
  ranking: "model" | "popularity";
  dataset: DatasetConfig;
  model: ModelConfig;
  extract: ExtractConfig;
  recommender: RecommenderConfig;
  train: TrainConfig;
  eval: EvalConfig;
  serve: ServeConfig;
  workers: WorkersConfig;
}
/**
 * Where the interactions and videos come from (MicroLens as published, or the built-in synthetic set) and how bad rows are handled.
 */
export interface DatasetConfig {
  /**
   * `synthetic`: generate the built-in MicroLens-format dataset (settings under `synthetic`). `microlens`: read a MicroLens directory (`dir`, `variant`) as published.
   */
  source: "synthetic" | "microlens";
  /**
   * MicroLens directory holding MicroLens-<variant>_pairs.csv (or .tsv), the titles file, MicroLens-<variant>_videos/ and _covers/. Used when source is microlens.
   */
  dir: string;
  /**
   * Which MicroLens-<variant>_* files to read (e.g. 50k, 100k; the synthetic set is `synth`). `auto`: the only variant in `dir`.
   */
  variant: string;
  /**
   * Pairs file to read: csv (user,item,timestamp) or tsv (user<TAB>items in time order, no timestamps). `auto` prefers the csv.
   */
  pairs: "auto" | "csv" | "tsv";
  /**
   * Malformed pairs rows (.csv: wrong field count, empty id, non-numeric timestamp; .tsv: a line without a tab): stop with file:line, or skip them with a counted warning. Rows MicroLens's own loader accepts are never malformed.
   */
  on_bad_row: "error" | "skip";
  /**
   * Repeated pairs: a user's second line in the .tsv, or a .csv row repeating (user, item, timestamp). `keep` = what MicroLens's loader (read_behaviors) does: the user's last .tsv line with at least 5 items is their sequence, while every such line's last 13 items stay in the catalogue; a repeated .csv row is a repeated interaction. `error` stops naming both lines (the stricter check); `skip` keeps the first with a counted warning.
   */
  on_duplicate: "keep" | "error" | "skip";
  /**
   * Interacted items without <item>.mp4: stop naming the item, drop the item's interactions (counted warning), or keep the item (extraction reports it as failed). Configs that read no video content (ID-only, popularity) need no videos folder, and for them `error` acts as `keep`.
   */
  on_missing_video: "error" | "skip" | "keep";
  /**
   * The built-in synthetic dataset (docs/data.md): topics visible in the videos and named in titles, users with topic cycles, Zipf popularity, planted cold items.
   */
  synthetic: {
    /**
     * Size preset, sizes in x-presets: tiny (tests), default (the quick start), 10k (benchmarks). users/items/topics below override it when set.
     */
    preset: "tiny" | "default" | "10k";
    /**
     * Number of users; 0 = the preset's.
     */
    users: number;
    /**
     * Number of items (videos); 0 = the preset's. At least max(10, 3 × topics) when set.
     */
    items: number;
    /**
     * Number of latent topics (1..12); 0 = the preset's.
     */
    topics: number;
    /**
     * Random seed: the same seed gives byte-identical CSVs and identical video frames.
     */
    seed: number;
    /**
     * Share of items planted cold: at most 2 training interactions each, but test targets where the user's topic cycle predicts them.
     */
    cold_share: number;
    /**
     * Video width in pixels.
     */
    width: number;
    /**
     * Video height in pixels.
     */
    height: number;
    /**
     * Video frames per second (clips last 2 to 4 s).
     */
    fps: number;
    /**
     * Video codec in the .mp4: mpeg4 (MPEG-4 part 2) or libx264 (H.264). Both are encoded single-threaded and deterministically.
     */
    codec: "mpeg4" | "libx264";
  };
}
/**
 * The frozen video LLM backbone: path or hub id, dtype, device; or a tiny random model built on first use.
 */
export interface ModelConfig {
  /**
   * LLaVA-OneVision checkpoint loaded with from_pretrained: a local directory (e.g. one written by `lo-exp model tiny`) or a hub id such as llava-hf/llava-onevision-qwen2-7b-ov-hf. Empty: the tiny random model of `model.tiny`, built on first use under <cache_dir>/models/.
   */
  path: string;
  /**
   * Compute dtype of the backbone. auto: bfloat16 on GPU, float32 on CPU.
   */
  dtype: "auto" | "float32" | "float16" | "bfloat16";
  /**
   * Shape of the tiny random LLaVA-OneVision used when `path` is empty (tests, quick start).
   */
  tiny: {
    /**
     * Language model hidden size.
     */
    hidden: number;
    /**
     * Language model decoder layers.
     */
    layers: number;
    /**
     * Frame side in pixels (8-pixel patches).
     */
    image_size: number;
    /**
     * Seed of the random weights.
     */
    seed: number;
  };
}
/**
 * Token extraction: frames per video, prompt bank, side channels, tapped layers, merged/new token counts, batch size, shards.
 */
export interface ExtractConfig {
  /**
   * Frames sampled uniformly from each video (T, paper §3.1).
   */
  frames: number;
  /**
   * The prompt bank: canonical prompts, one extraction per (item, prompt) (paper §3.4).
   *
   * @minItems 1
   */
  prompts: string[];
  /**
   * Side channels put before the prompt as `Name: value` lines, in this order, for items that have a value: `title` (the titles file) and any column of the dataset's MicroLens-<variant>_side.csv (transcript, tags, ...; docs/data.md). A name that is neither stops the run before work starts.
   */
  side_channels: string[];
  /**
   * Longer side-channel text is cut to this many characters.
   */
  side_channel_max_chars: number;
  /**
   * Tap every k-th decoder layer from the first: 0-based layers 0, k, 2k, ... (paper §4.3: every four layers; its Fig. 4/5 label them L0, L4, ...). Used when `taps` is empty. The MoE fuses exactly these; the last layer is stored as well (for the last-layer ablation).
   */
  tap_every: number;
  /**
   * Explicit 0-based decoder layers to tap (negative counts from the end); overrides tap_every when non-empty. The MoE fuses exactly these (recommender.layers = tapped); the last layer is stored as well, so recommender.layers = last reads it from the same extraction.
   */
  taps: number[];
  /**
   * M: old tokens kept per tap after ToMe bipartite merging.
   */
  merged_tokens: number;
  /**
   * Tokens generated per (item, prompt); min_new_tokens is set equal. max_new_tokens - 1 new tokens have a hidden state (the last sampled token is never fed back).
   */
  max_new_tokens: number;
  /**
   * (item, prompt) rows per generate call (max(1, batch_size / prompts) items).
   */
  batch_size: number;
  /**
   * Precision of the stored token features.
   */
  store_dtype: "float16" | "bfloat16";
  /**
   * Target items per shard: the catalogue is split into ceil(items / shard_size) shards by item-id hash. Keep it fixed while a store is unfinished.
   */
  shard_size: number;
  /**
   * Re-attempt items recorded as failed (bad videos) on a rerun.
   */
  retry_failed: boolean;
  /**
   * Attempts per shard when its worker dies (each retry goes to another worker).
   */
  max_attempts: number;
  /**
   * Who runs the shards: `workers` = linkedout's own worker pool (workers section, ZeroMQ); `ray` = one Ray actor per GPU, each loading the backbone once and pulling shards (extract.ray, docs/cluster.md; needs the ray extra). Not part of the store key: both write the same bytes.
   */
  engine: "workers" | "ray";
  /**
   * The Ray engine (extract.engine: ray; py/linkedout/cluster/ray_launcher.py).
   */
  ray: {
    /**
     * "" = start a private local Ray cluster for this run and stop it after; `auto` or ray://HOST:PORT = join a running cluster (whose nodes must see cache_dir, the dataset and the model at the same paths).
     */
    address: string;
    /**
     * Re-runs of a shard whose Ray actor process or node died, each on a fresh actor (a re-run resumes the shard's part files).
     */
    max_retries: number;
    /**
     * GPUs per shard actor when the cluster has GPUs (none are asked for on a CPU-only cluster); each actor loads the backbone once and runs shard after shard.
     */
    gpus_per_shard: number;
    /**
     * CPUs per shard actor (it uses workers.threads torch threads).
     */
    cpus_per_shard: number;
    /**
     * CPUs of the private local cluster (address ""); 0 = all of this host's (its GPUs are always all offered). Actors: one per gpus_per_shard GPUs (cpus_per_shard CPUs on a CPU-only cluster), as many as the cluster holds.
     */
    local_cpus: number;
    /**
     * Object store of the private local cluster, MiB (shards go to disk, not through it).
     */
    object_store_mb: number;
  };
}
/**
 * The learnable part: pooling, layer selection, fusion, ranker type, dimensions.
 */
export interface RecommenderConfig {
  /**
   * Per-layer token reduction: `compressor` = Layer Token Compressor (attention pooling with learnable queries over merged old tokens and new tokens, §3.3.1); `mean` = the stored mean of all old tokens; `last_token` = the stored last token (see last_token_source). Mean/last token are projected to d_c by a LayerNorm+Linear.
   */
  pooling: "compressor" | "mean" | "last_token";
  /**
   * With pooling=last_token: the last old (input) token, the last new (generated) token, or both concatenated.
   */
  last_token_source: "old" | "new" | "both";
  /**
   * `tapped` = every layer the TokenStore captured; `last` = only the deepest tapped layer (Table 4 'last layer').
   */
  layers: "tapped" | "last";
  /**
   * `moe` = Cross-Layer Knowledge MoE with an item-conditioned gate (§3.3.2); `none` = uniform average of the per-layer experts' outputs.
   */
  fusion: "moe" | "none";
  /**
   * Use video content from the TokenStore. false = ID-only baseline (needs item_id_embeddings=true; no TokenStore).
   */
  item_content: boolean;
  /**
   * Add a learnable item-ID embedding to each item vector ('+V'/ID baselines of Table 3).
   */
  item_id_embeddings: boolean;
  /**
   * Width of the compressed per-layer vector ẽ(l) (paper d_c); even: half from the old branch, half from the new.
   */
  d_c: number;
  /**
   * Width of the fused item vector z_v (paper d_z) and of the ranker.
   */
  d_z: number;
  /**
   * Dropout in compressors, experts and the ranker.
   */
  dropout: number;
  /**
   * Layer Token Compressor (§3.3.1) and prompt mixing.
   */
  compressor: {
    /**
     * Learnable queries of the old-token attention pooling.
     */
    old_queries: number;
    /**
     * Learnable queries of the new-token attention pooling.
     */
    new_queries: number;
    /**
     * Attention heads of each pooling module (must divide d_c/2).
     */
    heads: number;
    /**
     * Add log(ToMe size) of each merged old token to its attention logit (ToMe proportional attention); empty slots are masked either way.
     */
    proportional_attention: boolean;
    /**
     * Learnable softmax weights over the prompt bank per layer; false = plain mean over prompts.
     */
    prompt_mixing: boolean;
  };
  /**
   * Cross-Layer Knowledge MoE Fuser (§3.3.2).
   */
  moe: {
    /**
     * Hidden width of each layer's residual-MLP expert.
     */
    expert_hidden: number;
    /**
     * Hidden width of the gating MLP (input: the mean of the experts' outputs).
     */
    gate_hidden: number;
    /**
     * 0 = dense soft gating over all layers (paper default); k > 0 = keep each item's k largest gate logits and add the load-balancing loss.
     */
    top_k: number;
    /**
     * Weight of the Switch load-balancing loss (only with top_k > 0).
     */
    load_balance_weight: number;
  };
  /**
   * Sequential user encoder over the last max_history item vectors; score = dot product with z_v.
   */
  ranker: {
    /**
     * SASRec causal transformer, GRU4Rec, or NextItNet dilated causal CNN.
     */
    name: "sasrec" | "gru4rec" | "nextitnet";
    /**
     * Transformer blocks (sasrec), GRU layers (gru4rec), repeats of the dilation stack (nextitnet).
     */
    layers: number;
    /**
     * SASRec attention heads (must divide d_z).
     */
    heads: number;
    /**
     * NextItNet: one residual block (convs with dilation r and 2r) per entry.
     *
     * @minItems 1
     */
    dilations: number[];
    /**
     * NextItNet causal convolution width.
     */
    kernel_size: number;
    /**
     * Most recent items the model sees (MicroLens protocol: 10).
     */
    max_history: number;
    /**
     * SASRec LayerNorm placement: `pre` = before each attention and feed-forward sub-layer, plus one after the last block (Kang & McAuley's SASRec); `post` = on the input embeddings and after each residual sum (BERT, RecBole's SASRec). The ID baselines use `post` (docs/model.md "ID baselines").
     */
    norm: "pre" | "post";
  };
}
/**
 * Optimisation: epochs, batch size, learning-rate groups, weight decay, clipping, schedule, precision, seed, early stopping.
 */
export interface TrainConfig {
  /**
   * Maximum epochs (paper: 100).
   */
  epochs: number;
  /**
   * Global batch in user sequences (paper: 256), split across DDP ranks.
   */
  batch_size: number;
  /**
   * AdamW learning rate per parameter group (paper: 1e-4 extractor side, 1e-5 recommendation head).
   */
  lr: {
    /**
     * Compressors, prompt mixer, layer experts and gate.
     */
    item_encoder: number;
    /**
     * Learnable item-ID embeddings (MicroLens ID baselines: 1e-4).
     */
    id_embeddings: number;
    /**
     * The user encoder (recommendation head).
     */
    ranker: number;
  };
  /**
   * AdamW weight decay, on >= 2-D weights only (biases, norms and other 1-D parameters: 0).
   */
  weight_decay: number;
  /**
   * Clip the global gradient norm at this value; 0 = no clipping.
   */
  grad_clip: number;
  /**
   * step_schedule_with_warmup at epoch granularity (MicroLens): lr × (e+1)/(w+1) for the first w epochs, then lr × alpha^floor((e−w)/gap).
   */
  schedule: {
    /**
     * Linear warmup epochs (paper: 0).
     */
    warmup_epochs: number;
    /**
     * Epochs between decays (paper: 1).
     */
    gap_epochs: number;
    /**
     * Decay factor per gap (paper: 1.0, i.e. constant).
     */
    alpha: number;
  };
  /**
   * Mixed precision: bf16 autocast; fp16 autocast with a gradient scaler (GPU only); auto = bf16 on GPU, fp32 on CPU. The loss and evaluation always run in fp32.
   */
  precision: "auto" | "fp32" | "bf16" | "fp16";
  /**
   * Softmax candidates: the batch's distinct items (MicroLens baselines) or the whole catalogue (encodes every item every step).
   */
  negatives: "in_batch" | "full";
  /**
   * Objective: softmax CE + DirectAU alignment/uniformity.
   */
  loss: {
    /**
     * Weight of the DirectAU alignment term E‖ũ−ĩ‖².
     */
    align_weight: number;
    /**
     * γ, weight of the DirectAU uniformity term.
     */
    uniformity_gamma: number;
    /**
     * Subtract log(train_count+1) from training logits (MicroLens's in-batch debiasing).
     */
    popularity_correction: boolean;
    /**
     * Drop the user's other items (earlier and later in the sequence) from each position's softmax negatives, as the evaluation masks the history. false: every catalogue item but the target is a negative, as RecBole trains its sequential models (measured worse for all three ID baselines on the 10k split, docs/model.md).
     */
    exclude_user_items: boolean;
  };
  /**
   * Stop after this many epochs without a better validation select_metric; 0 = never stop early.
   */
  early_stopping_patience: number;
  /**
   * Validation metric that picks the kept epoch (best.pt) and decides early stopping: hr@K or ndcg@K (linkedout.train.metrics; the same definitions as the reported metrics). epochs.arrow has valid_hr<K> and valid_ndcg<K> for this K.
   */
  select_metric: string;
  /**
   * Where the TokenStore kinds the model reads are held while training (docs/scale.md): device = all of them in the training device's memory (each DDP rank holds a copy); host = in (pinned, on CUDA) host memory, each batch's rows copied to the device non-blocking while the previous step runs; off = read from the memory-mapped store every step; auto = device when they fit feature_cache_share of the device's free memory, else host when they fit that share of free host memory, else off. Results are the same in every mode.
   */
  feature_cache: "auto" | "device" | "host" | "off";
  /**
   * feature_cache: auto: the largest share of the device's (or host's) free memory the cache may take.
   */
  feature_cache_share: number;
  /**
   * Seed of initialisation, shuffling and dropout (per epoch: resume is exact).
   */
  seed: number;
  /**
   * torch.use_deterministic_algorithms (bitwise-repeatable on CPU).
   */
  deterministic: boolean;
  /**
   * Length of the top-K list written per evaluated user in ranks.arrow.
   */
  topk: number;
  /**
   * Users scored per matrix product during evaluation.
   */
  eval_batch_users: number;
  /**
   * Items per forward pass when embedding the whole catalogue.
   */
  item_batch_size: number;
}
/**
 * Evaluation: cut-offs K, cold-start and long-tail slices.
 */
export interface EvalConfig {
  /**
   * Cut-offs K for HR@K and NDCG@K (NDCG@K = 1/log2(rank+1) when rank <= K). The paper reports 10 and 20.
   *
   * @minItems 1
   */
  ks: number[];
  /**
   * Cold-start slice: test targets with at most this many training interactions (items.arrow train_count).
   */
  cold_max: number;
  /**
   * Long-tail slice: targets outside the most popular items that together make this share of training interactions (ties by catalogue index).
   */
  long_tail_share: number;
}
/**
 * Online ranking service and EmbeddingStore.
 */
export interface ServeConfig {
  /**
   * TCP port of `lo-exp serve` on 127.0.0.1 (the service never listens on other interfaces). 0 = any free port.
   */
  port: number;
  /**
   * EmbeddingStore directory, relative to the run directory (written by the `embed` stage, appended to by `add-items`).
   */
  store_dir: string;
  /**
   * Largest `k` a request may ask for; larger is a 400.
   */
  max_k: number;
  /**
   * Requests that arrive while the worker is busy are ranked together, up to this many per worker call (one user-tower pass and one matmul). 1 = no batching.
   */
  max_batch: number;
  /**
   * How often (seconds, at most) the worker checks the EmbeddingStore for items added by `add-items` while the service runs.
   */
  refresh_s: number;
  /**
   * Largest request body accepted; larger is a 413.
   */
  max_body_bytes: number;
  /**
   * torch intra-op threads of the serving worker.
   */
  threads: number;
  /**
   * How the worker runs the trained user tower: `frozen` traces it into a frozen TorchScript graph at load (the same ATen kernels called from C++: ~40% less time per query on one CPU thread) and serves the graph only if it gives the module's user vectors bit for bit on probe histories of every length, else the module itself with one line saying why; `eager` always runs the module (docs/serving.md).
   */
  tower: "frozen" | "eager";
  /**
   * How the worker finds the top K: `exact` scores every item (torch.topk over u·Zᵀ; answers equal the offline evaluation); `ann` asks the approximate index (serve.ann) for candidates, re-scores them exactly, scores items added since the index was built exhaustively (delta segment) and masks seen items exactly; `auto` is exact up to serve.ann.exact_up_to items and ann above (docs/serving.md).
   */
  index: "exact" | "ann" | "auto";
  /**
   * The approximate index of `serve.index: ann | auto` (FAISS IVF-Flat over z_v, inner product; chosen by measurement, docs/serving.md), saved in `<store_dir>/index/`.
   */
  ann: {
    /**
     * `serve.index: auto` ranks exactly up to this many items (at 200k exact top-K costs ~5 ms on one thread) and uses the index above.
     */
    exact_up_to: number;
    /**
     * IVF lists (k-means centroids) of the index; 0 = 4·√N for N items at build time (at most N/8).
     */
    nlist: number;
    /**
     * Lists searched per query (recall and latency grow with it); ≥ nlist searches exhaustively, giving the exact answers.
     */
    nprobe: number;
    /**
     * Once this many items were added since the index was built (the delta segment, scored exactly), a background thread folds them into a copy of the index and swaps it in; requests are answered meanwhile.
     */
    rebuild_after: number;
  };
  /**
   * `lo-exp bench serve` (paper Table 5).
   */
  bench: {
    /**
     * Catalogue sizes (items) to measure.
     *
     * @minItems 1
     */
    catalogues: number[];
    /**
     * Timed single queries per path and catalogue (p50/p99 over these).
     */
    queries: number;
    /**
     * Queries per batch for the batched-throughput rows.
     */
    batch: number;
    /**
     * Timed queries of path (a), direct VLLM ranking (slow: each runs the VLLM over 10 history videos and scores candidates).
     */
    vllm_queries: number;
    /**
     * Candidates scored by VLLM likelihood per query in path (a); the per-query time is extrapolated linearly to the full catalogue and labelled so.
     */
    vllm_candidates: number;
    /**
     * Concurrent HTTP clients of the loopback load test.
     */
    load_clients: number;
    /**
     * Total requests of the loopback load test.
     */
    load_requests: number;
  };
}
/**
 * Where Python workers run: count on CPU, device list on GPU, torch threads per worker.
 */
export interface WorkersConfig {
  /**
   * How many CPU worker processes to start when `devices` is empty. Each gets `threads` torch threads.
   */
  count: number;
  /**
   * GPU devices, one worker each (e.g. ["cuda:0", "cuda:1"]). Empty: run `count` workers on the CPU.
   */
  devices: string[];
  /**
   * torch intra-op threads per worker (torch.set_num_threads).
   */
  threads: number;
  /**
   * Seconds between a local worker's heartbeats.
   */
  heartbeat_s: number;
  /**
   * Seconds a worker may stay silent (no heartbeat, progress or reply) before a warning is logged. Counted only while the orchestrator itself runs: a stall of the whole host (every process frozen, then continued) is not silence. A worker whose process exits fails its calls at once, whatever this says.
   */
  heartbeat_timeout_s: number;
  /**
   * Further seconds of silence after the warning before a live but silent worker is declared hung: it is killed, and its call retried or resumed as `max_attempts` allows. Remote workers use it too.
   */
  hang_grace_s: number;
  /**
   * Tries in all for work whose worker died: an idempotent op (render, embed, rank shard, ...) is retried on another worker, training resumes from its last checkpoint on a new worker, a worker killed while starting is started again. Each retry is logged. Extraction shards follow `extract.max_attempts`.
   */
  max_attempts: number;
  /**
   * Workers already running on other hosts (`lo-exp worker --bind tcp://HOST:PORT --keys DIR`), reached over ZeroMQ with CURVE and used beside the local ones: extraction shards and every other op go to them too. Their hosts must see the run's files (cache_dir, dataset, model) at the same paths, e.g. on a shared filesystem. See schemas/protocol/README.md, "Remote workers".
   */
  remote: {
    /**
     * tcp://HOST:PORT the worker was started with (`lo-exp worker --bind`).
     */
    endpoint: string;
    /**
     * The worker's public key file (server.key from `lo-exp worker keygen --role server` on its host).
     */
    server_public_key: string;
    /**
     * This orchestrator's secret key file (client.key_secret from `lo-exp worker keygen --role client`, mode 0600); its client.key must be in the worker's clients/ directory.
     */
    client_keys: string;
  }[];
}
