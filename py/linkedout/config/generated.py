# generated, do not edit: `npm run gen:config` (scripts/gen-python.ts) writes this file from
# schemas/config/<section>.schema.json; change the schema, then regenerate.
# ruff: noqa
"""The config sections as Python sees them: fields, types and defaults from schemas/config/ (less the
`x-scheduler-only` keys only the TypeScript scheduler reads). Modules add their own checks by subclassing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, TypeVar

from linkedout.config.typed import from_dict

_T = TypeVar("_T")


DatasetSource = Literal["synthetic", "microlens"]


DatasetPairs = Literal["auto", "csv", "tsv"]


DatasetOnBadRow = Literal["error", "skip"]


DatasetOnDuplicate = Literal["keep", "error", "skip"]


DatasetOnMissingVideo = Literal["error", "skip", "keep"]


DatasetSyntheticPreset = Literal["tiny", "default", "10k"]


DatasetSyntheticCodec = Literal["mpeg4", "libx264"]


@dataclass(frozen=True, kw_only=True)
class DatasetSynthetic:
    """The built-in synthetic dataset (docs/data.md): topics visible in the videos and named in titles, users with topic cycles, Zipf popularity, planted cold items."""

    # Size preset, sizes in x-presets: tiny (tests), default (the quick start), 10k (benchmarks). users/items/topics below override it when set.
    preset: DatasetSyntheticPreset = "default"
    # Number of users; 0 = the preset's.
    users: int = 0
    # Number of items (videos); 0 = the preset's. At least max(10, 3 × topics) when set.
    items: int = 0
    # Number of latent topics (1..12); 0 = the preset's.
    topics: int = 0
    # Random seed: the same seed gives byte-identical CSVs and identical video frames.
    seed: int = 0
    # Share of items planted cold: at most 2 training interactions each, but test targets where the user's topic cycle predicts them.
    cold_share: float = 0.12
    # Video width in pixels.
    width: int = 64
    # Video height in pixels.
    height: int = 64
    # Video frames per second (clips last 2 to 4 s).
    fps: int = 8
    # Video codec in the .mp4: mpeg4 (MPEG-4 part 2) or libx264 (H.264). Both are encoded single-threaded and deterministically.
    codec: DatasetSyntheticCodec = "mpeg4"


@dataclass(frozen=True, kw_only=True)
class DatasetSection:
    """dataset section"""

    # `synthetic`: generate the built-in MicroLens-format dataset (settings under `synthetic`). `microlens`: read a MicroLens directory (`dir`, `variant`) as published.
    source: DatasetSource = "synthetic"
    # MicroLens directory holding MicroLens-<variant>_pairs.csv (or .tsv), the titles file, MicroLens-<variant>_videos/ and _covers/. Used when source is microlens.
    dir: str = ""
    # Which MicroLens-<variant>_* files to read (e.g. 50k, 100k; the synthetic set is `synth`). `auto`: the only variant in `dir`.
    variant: str = "auto"
    # Pairs file to read: csv (user,item,timestamp) or tsv (user<TAB>items in time order, no timestamps). `auto` prefers the csv.
    pairs: DatasetPairs = "auto"
    # Malformed pairs rows (.csv: wrong field count, empty id, non-numeric timestamp; .tsv: a line without a tab): stop with file:line, or skip them with a counted warning. Rows MicroLens's own loader accepts are never malformed.
    on_bad_row: DatasetOnBadRow = "error"
    # Repeated pairs: a user's second line in the .tsv, or a .csv row repeating (user, item, timestamp). `keep` = what MicroLens's loader (read_behaviors) does: the user's last .tsv line with at least 5 items is their sequence, while every such line's last 13 items stay in the catalogue; a repeated .csv row is a repeated interaction. `error` stops naming both lines (the stricter check); `skip` keeps the first with a counted warning.
    on_duplicate: DatasetOnDuplicate = "keep"
    # Interacted items without <item>.mp4: stop naming the item, drop the item's interactions (counted warning), or keep the item (extraction reports it as failed). Configs that read no video content (ID-only, popularity) need no videos folder, and for them `error` acts as `keep`.
    on_missing_video: DatasetOnMissingVideo = "error"
    # The built-in synthetic dataset (docs/data.md): topics visible in the videos and named in titles, users with topic cycles, Zipf popularity, planted cold items.
    synthetic: DatasetSynthetic = field(default_factory=DatasetSynthetic)

    @classmethod
    def from_json(cls: type[_T], data: Mapping[str, Any] | None, path: str) -> _T:
        """Build from JSON: unknown keys and wrong types raise ConfigError naming the path; defaults fill the rest."""
        return from_dict(cls, data, path)


@dataclass(frozen=True, kw_only=True)
class EvalSection:
    """eval section"""

    # Cut-offs K for HR@K and NDCG@K (NDCG@K = 1/log2(rank+1) when rank <= K). The paper reports 10 and 20.
    ks: tuple[int, ...] = (10, 20)
    # Cold-start slice: test targets with at most this many training interactions (items.arrow train_count).
    cold_max: int = 5
    # Long-tail slice: targets outside the most popular items that together make this share of training interactions (ties by catalogue index).
    long_tail_share: float = 0.8

    @classmethod
    def from_json(cls: type[_T], data: Mapping[str, Any] | None, path: str) -> _T:
        """Build from JSON: unknown keys and wrong types raise ConfigError naming the path; defaults fill the rest."""
        return from_dict(cls, data, path)


ExtractStoreDtype = Literal["float16", "bfloat16"]


@dataclass(frozen=True, kw_only=True)
class ExtractSection:
    """extract section"""

    # Frames sampled uniformly from each video (T, paper §3.1).
    frames: int = 8
    # The prompt bank: canonical prompts, one extraction per (item, prompt) (paper §3.4).
    prompts: tuple[str, ...] = ("Describe this video in detail: the scene, the objects, the people and what happens.", "What is the main topic of this video, and who would enjoy watching it?")
    # Side channels put before the prompt as `Name: value` lines, in this order, for items that have a value: `title` (the titles file) and any column of the dataset's MicroLens-<variant>_side.csv (transcript, tags, ...; docs/data.md). A name that is neither stops the run before work starts.
    side_channels: tuple[str, ...] = ("title",)
    # Longer side-channel text is cut to this many characters.
    side_channel_max_chars: int = 400
    # Tap every k-th decoder layer from the first: 0-based layers 0, k, 2k, ... (paper §4.3: every four layers; its Fig. 4/5 label them L0, L4, ...). Used when `taps` is empty. The MoE fuses exactly these; the last layer is stored as well (for the last-layer ablation).
    tap_every: int = 4
    # Explicit 0-based decoder layers to tap (negative counts from the end); overrides tap_every when non-empty. The MoE fuses exactly these (recommender.layers = tapped); the last layer is stored as well, so recommender.layers = last reads it from the same extraction.
    taps: tuple[int, ...] = ()
    # M: old tokens kept per tap after ToMe bipartite merging.
    merged_tokens: int = 32
    # Tokens generated per (item, prompt); min_new_tokens is set equal. max_new_tokens - 1 new tokens have a hidden state (the last sampled token is never fed back).
    max_new_tokens: int = 8
    # (item, prompt) rows per generate call (max(1, batch_size / prompts) items).
    batch_size: int = 8
    # Precision of the stored token features.
    store_dtype: ExtractStoreDtype = "bfloat16"

    @classmethod
    def from_json(cls: type[_T], data: Mapping[str, Any] | None, path: str) -> _T:
        """Build from JSON: unknown keys and wrong types raise ConfigError naming the path; defaults fill the rest."""
        return from_dict(cls, data, path)


ModelDtype = Literal["auto", "float32", "float16", "bfloat16"]


@dataclass(frozen=True, kw_only=True)
class ModelTiny:
    """Shape of the tiny random LLaVA-OneVision used when `path` is empty (tests, quick start)."""

    # Language model hidden size.
    hidden: int = 64
    # Language model decoder layers.
    layers: int = 8
    # Frame side in pixels (8-pixel patches).
    image_size: int = 32
    # Seed of the random weights.
    seed: int = 0


@dataclass(frozen=True, kw_only=True)
class ModelSection:
    """model section"""

    # LLaVA-OneVision checkpoint loaded with from_pretrained: a local directory (e.g. one written by `lo-exp model tiny`) or a hub id such as llava-hf/llava-onevision-qwen2-7b-ov-hf. Empty: the tiny random model of `model.tiny`, built on first use under <cache_dir>/models/.
    path: str = ""
    # Compute dtype of the backbone. auto: bfloat16 on GPU, float32 on CPU.
    dtype: ModelDtype = "auto"
    # Shape of the tiny random LLaVA-OneVision used when `path` is empty (tests, quick start).
    tiny: ModelTiny = field(default_factory=ModelTiny)

    @classmethod
    def from_json(cls: type[_T], data: Mapping[str, Any] | None, path: str) -> _T:
        """Build from JSON: unknown keys and wrong types raise ConfigError naming the path; defaults fill the rest."""
        return from_dict(cls, data, path)


RecommenderPooling = Literal["compressor", "mean", "last_token"]


RecommenderLastTokenSource = Literal["old", "new", "both"]


RecommenderLayers = Literal["tapped", "last"]


RecommenderFusion = Literal["moe", "none"]


@dataclass(frozen=True, kw_only=True)
class RecommenderCompressor:
    """Layer Token Compressor (§3.3.1) and prompt mixing."""

    # Learnable queries of the old-token attention pooling.
    old_queries: int = 4
    # Learnable queries of the new-token attention pooling.
    new_queries: int = 2
    # Attention heads of each pooling module (must divide d_c/2).
    heads: int = 4
    # Add log(ToMe size) of each merged old token to its attention logit (ToMe proportional attention); empty slots are masked either way.
    proportional_attention: bool = True
    # Learnable softmax weights over the prompt bank per layer; false = plain mean over prompts.
    prompt_mixing: bool = True


@dataclass(frozen=True, kw_only=True)
class RecommenderMoe:
    """Cross-Layer Knowledge MoE Fuser (§3.3.2)."""

    # Hidden width of each layer's residual-MLP expert.
    expert_hidden: int = 512
    # Hidden width of the gating MLP (input: the mean of the experts' outputs).
    gate_hidden: int = 128
    # 0 = dense soft gating over all layers (paper default); k > 0 = keep each item's k largest gate logits and add the load-balancing loss.
    top_k: int = 0
    # Weight of the Switch load-balancing loss (only with top_k > 0).
    load_balance_weight: float = 0.01


RecommenderRankerName = Literal["sasrec", "gru4rec", "nextitnet"]


RecommenderRankerNorm = Literal["pre", "post"]


@dataclass(frozen=True, kw_only=True)
class RecommenderRanker:
    """Sequential user encoder over the last max_history item vectors; score = dot product with z_v."""

    # SASRec causal transformer, GRU4Rec, or NextItNet dilated causal CNN.
    name: RecommenderRankerName = "sasrec"
    # Transformer blocks (sasrec), GRU layers (gru4rec), repeats of the dilation stack (nextitnet).
    layers: int = 2
    # SASRec attention heads (must divide d_z).
    heads: int = 2
    # NextItNet: one residual block (convs with dilation r and 2r) per entry.
    dilations: tuple[int, ...] = (1, 2, 4)
    # NextItNet causal convolution width.
    kernel_size: int = 3
    # Most recent items the model sees (MicroLens protocol: 10).
    max_history: int = 10
    # SASRec LayerNorm placement: `pre` = before each attention and feed-forward sub-layer, plus one after the last block (Kang & McAuley's SASRec); `post` = on the input embeddings and after each residual sum (BERT, RecBole's SASRec). The ID baselines use `post` (docs/model.md "ID baselines").
    norm: RecommenderRankerNorm = "pre"


@dataclass(frozen=True, kw_only=True)
class RecommenderSection:
    """recommender section"""

    # Per-layer token reduction: `compressor` = Layer Token Compressor (attention pooling with learnable queries over merged old tokens and new tokens, §3.3.1); `mean` = the stored mean of all old tokens; `last_token` = the stored last token (see last_token_source). Mean/last token are projected to d_c by a LayerNorm+Linear.
    pooling: RecommenderPooling = "compressor"
    # With pooling=last_token: the last old (input) token, the last new (generated) token, or both concatenated.
    last_token_source: RecommenderLastTokenSource = "old"
    # `tapped` = every layer the TokenStore captured; `last` = only the deepest tapped layer (Table 4 'last layer').
    layers: RecommenderLayers = "tapped"
    # `moe` = Cross-Layer Knowledge MoE with an item-conditioned gate (§3.3.2); `none` = uniform average of the per-layer experts' outputs.
    fusion: RecommenderFusion = "moe"
    # Use video content from the TokenStore. false = ID-only baseline (needs item_id_embeddings=true; no TokenStore).
    item_content: bool = True
    # Add a learnable item-ID embedding to each item vector ('+V'/ID baselines of Table 3).
    item_id_embeddings: bool = False
    # Width of the compressed per-layer vector ẽ(l) (paper d_c); even: half from the old branch, half from the new.
    d_c: int = 256
    # Width of the fused item vector z_v (paper d_z) and of the ranker.
    d_z: int = 128
    # Dropout in compressors, experts and the ranker.
    dropout: float = 0.1
    # Layer Token Compressor (§3.3.1) and prompt mixing.
    compressor: RecommenderCompressor = field(default_factory=RecommenderCompressor)
    # Cross-Layer Knowledge MoE Fuser (§3.3.2).
    moe: RecommenderMoe = field(default_factory=RecommenderMoe)
    # Sequential user encoder over the last max_history item vectors; score = dot product with z_v.
    ranker: RecommenderRanker = field(default_factory=RecommenderRanker)

    @classmethod
    def from_json(cls: type[_T], data: Mapping[str, Any] | None, path: str) -> _T:
        """Build from JSON: unknown keys and wrong types raise ConfigError naming the path; defaults fill the rest."""
        return from_dict(cls, data, path)


ServeTower = Literal["frozen", "eager"]


ServeIndex = Literal["exact", "ann", "auto"]


@dataclass(frozen=True, kw_only=True)
class ServeAnn:
    """The approximate index of `serve.index: ann | auto` (FAISS IVF-Flat over z_v, inner product; chosen by measurement, docs/serving.md), saved in `<store_dir>/index/`."""

    # `serve.index: auto` ranks exactly up to this many items (at 200k exact top-K costs ~5 ms on one thread) and uses the index above.
    exact_up_to: int = 200000
    # IVF lists (k-means centroids) of the index; 0 = 4·√N for N items at build time (at most N/8).
    nlist: int = 0
    # Lists searched per query (recall and latency grow with it); ≥ nlist searches exhaustively, giving the exact answers.
    nprobe: int = 64
    # Once this many items were added since the index was built (the delta segment, scored exactly), a background thread folds them into a copy of the index and swaps it in; requests are answered meanwhile.
    rebuild_after: int = 1000


@dataclass(frozen=True, kw_only=True)
class ServeBench:
    """`lo-exp bench serve` (paper Table 5)."""

    # Catalogue sizes (items) to measure.
    catalogues: tuple[int, ...] = (20000, 200000)
    # Timed single queries per path and catalogue (p50/p99 over these).
    queries: int = 300
    # Queries per batch for the batched-throughput rows.
    batch: int = 256
    # Timed queries of path (a), direct VLLM ranking (slow: each runs the VLLM over 10 history videos and scores candidates).
    vllm_queries: int = 3
    # Candidates scored by VLLM likelihood per query in path (a); the per-query time is extrapolated linearly to the full catalogue and labelled so.
    vllm_candidates: int = 8
    # Concurrent HTTP clients of the loopback load test.
    load_clients: int = 8
    # Total requests of the loopback load test.
    load_requests: int = 2000


@dataclass(frozen=True, kw_only=True)
class ServeSection:
    """serve section"""

    # TCP port of `lo-exp serve` on 127.0.0.1 (the service never listens on other interfaces). 0 = any free port.
    port: int = 8321
    # EmbeddingStore directory, relative to the run directory (written by the `embed` stage, appended to by `add-items`).
    store_dir: str = "embeddings"
    # Largest `k` a request may ask for; larger is a 400.
    max_k: int = 100
    # Requests that arrive while the worker is busy are ranked together, up to this many per worker call (one user-tower pass and one matmul). 1 = no batching.
    max_batch: int = 64
    # How often (seconds, at most) the worker checks the EmbeddingStore for items added by `add-items` while the service runs.
    refresh_s: float = 0.5
    # Largest request body accepted; larger is a 413.
    max_body_bytes: int = 65536
    # torch intra-op threads of the serving worker.
    threads: int = 1
    # How the worker runs the trained user tower: `frozen` traces it into a frozen TorchScript graph at load (the same ATen kernels called from C++: ~40% less time per query on one CPU thread) and serves the graph only if it gives the module's user vectors bit for bit on probe histories of every length, else the module itself with one line saying why; `eager` always runs the module (docs/serving.md).
    tower: ServeTower = "frozen"
    # How the worker finds the top K: `exact` scores every item (torch.topk over u·Zᵀ; answers equal the offline evaluation); `ann` asks the approximate index (serve.ann) for candidates, re-scores them exactly, scores items added since the index was built exhaustively (delta segment) and masks seen items exactly; `auto` is exact up to serve.ann.exact_up_to items and ann above (docs/serving.md).
    index: ServeIndex = "auto"
    # The approximate index of `serve.index: ann | auto` (FAISS IVF-Flat over z_v, inner product; chosen by measurement, docs/serving.md), saved in `<store_dir>/index/`.
    ann: ServeAnn = field(default_factory=ServeAnn)
    # `lo-exp bench serve` (paper Table 5).
    bench: ServeBench = field(default_factory=ServeBench)

    @classmethod
    def from_json(cls: type[_T], data: Mapping[str, Any] | None, path: str) -> _T:
        """Build from JSON: unknown keys and wrong types raise ConfigError naming the path; defaults fill the rest."""
        return from_dict(cls, data, path)


@dataclass(frozen=True, kw_only=True)
class TrainLr:
    """AdamW learning rate per parameter group (paper: 1e-4 extractor side, 1e-5 recommendation head)."""

    # Compressors, prompt mixer, layer experts and gate.
    item_encoder: float = 0.0001
    # Learnable item-ID embeddings (MicroLens ID baselines: 1e-4).
    id_embeddings: float = 0.0001
    # The user encoder (recommendation head).
    ranker: float = 0.00001


@dataclass(frozen=True, kw_only=True)
class TrainSchedule:
    """step_schedule_with_warmup at epoch granularity (MicroLens): lr × (e+1)/(w+1) for the first w epochs, then lr × alpha^floor((e−w)/gap)."""

    # Linear warmup epochs (paper: 0).
    warmup_epochs: int = 0
    # Epochs between decays (paper: 1).
    gap_epochs: int = 1
    # Decay factor per gap (paper: 1.0, i.e. constant).
    alpha: float = 1.0


TrainPrecision = Literal["auto", "fp32", "bf16", "fp16"]


TrainNegatives = Literal["in_batch", "full"]


@dataclass(frozen=True, kw_only=True)
class TrainLoss:
    """Objective: softmax CE + DirectAU alignment/uniformity."""

    # Weight of the DirectAU alignment term E‖ũ−ĩ‖².
    align_weight: float = 1.0
    # γ, weight of the DirectAU uniformity term.
    uniformity_gamma: float = 1.0
    # Subtract log(train_count+1) from training logits (MicroLens's in-batch debiasing).
    popularity_correction: bool = True
    # Drop the user's other items (earlier and later in the sequence) from each position's softmax negatives, as the evaluation masks the history. false: every catalogue item but the target is a negative, as RecBole trains its sequential models (measured worse for all three ID baselines on the 10k split, docs/model.md).
    exclude_user_items: bool = True


TrainFeatureCache = Literal["auto", "device", "host", "off"]


@dataclass(frozen=True, kw_only=True)
class TrainSection:
    """train section"""

    # Maximum epochs (paper: 100).
    epochs: int = 100
    # Global batch in user sequences (paper: 256), split across DDP ranks.
    batch_size: int = 256
    # AdamW learning rate per parameter group (paper: 1e-4 extractor side, 1e-5 recommendation head).
    lr: TrainLr = field(default_factory=TrainLr)
    # AdamW weight decay, on >= 2-D weights only (biases, norms and other 1-D parameters: 0).
    weight_decay: float = 0.1
    # Clip the global gradient norm at this value; 0 = no clipping.
    grad_clip: float = 5.0
    # step_schedule_with_warmup at epoch granularity (MicroLens): lr × (e+1)/(w+1) for the first w epochs, then lr × alpha^floor((e−w)/gap).
    schedule: TrainSchedule = field(default_factory=TrainSchedule)
    # Mixed precision: bf16 autocast; fp16 autocast with a gradient scaler (GPU only); auto = bf16 on GPU, fp32 on CPU. The loss and evaluation always run in fp32.
    precision: TrainPrecision = "auto"
    # Softmax candidates: the batch's distinct items (MicroLens baselines) or the whole catalogue (encodes every item every step).
    negatives: TrainNegatives = "in_batch"
    # Objective: softmax CE + DirectAU alignment/uniformity.
    loss: TrainLoss = field(default_factory=TrainLoss)
    # Stop after this many epochs without a better validation select_metric; 0 = never stop early.
    early_stopping_patience: int = 10
    # Validation metric that picks the kept epoch (best.pt) and decides early stopping: hr@K or ndcg@K (linkedout.train.metrics; the same definitions as the reported metrics). epochs.arrow has valid_hr<K> and valid_ndcg<K> for this K.
    select_metric: str = "hr@10"
    # Where the TokenStore kinds the model reads are held while training (docs/scale.md): device = all of them in the training device's memory (each DDP rank holds a copy); host = in (pinned, on CUDA) host memory, each batch's rows copied to the device non-blocking while the previous step runs; off = read from the memory-mapped store every step; auto = device when they fit feature_cache_share of the device's free memory, else host when they fit that share of free host memory, else off. Results are the same in every mode.
    feature_cache: TrainFeatureCache = "auto"
    # feature_cache: auto: the largest share of the device's (or host's) free memory the cache may take.
    feature_cache_share: float = 0.6
    # Seed of initialisation, shuffling and dropout (per epoch: resume is exact).
    seed: int = 0
    # torch.use_deterministic_algorithms (bitwise-repeatable on CPU).
    deterministic: bool = True
    # Length of the top-K list written per evaluated user in ranks.arrow.
    topk: int = 20
    # Users scored per matrix product during evaluation.
    eval_batch_users: int = 1024
    # Items per forward pass when embedding the whole catalogue.
    item_batch_size: int = 256

    @classmethod
    def from_json(cls: type[_T], data: Mapping[str, Any] | None, path: str) -> _T:
        """Build from JSON: unknown keys and wrong types raise ConfigError naming the path; defaults fill the rest."""
        return from_dict(cls, data, path)


@dataclass(frozen=True, kw_only=True)
class WorkersRemoteItem:
    """WorkersRemoteItem"""

    # tcp://HOST:PORT the worker was started with (`lo-exp worker --bind`).
    endpoint: str
    # The worker's public key file (server.key from `lo-exp worker keygen --role server` on its host).
    server_public_key: str
    # This orchestrator's secret key file (client.key_secret from `lo-exp worker keygen --role client`, mode 0600); its client.key must be in the worker's clients/ directory.
    client_keys: str


@dataclass(frozen=True, kw_only=True)
class WorkersSection:
    """workers section"""

    # How many CPU worker processes to start when `devices` is empty. Each gets `threads` torch threads.
    count: int = 1
    # GPU devices, one worker each (e.g. ["cuda:0", "cuda:1"]). Empty: run `count` workers on the CPU.
    devices: tuple[str, ...] = ()
    # torch intra-op threads per worker (torch.set_num_threads).
    threads: int = 1
    # Seconds between a local worker's heartbeats.
    heartbeat_s: float = 1.0
    # Seconds a worker may stay silent (no heartbeat, progress or reply) before a warning is logged. Counted only while the orchestrator itself runs: a stall of the whole host (every process frozen, then continued) is not silence. A worker whose process exits fails its calls at once, whatever this says.
    heartbeat_timeout_s: float = 20.0
    # Further seconds of silence after the warning before a live but silent worker is declared hung: it is killed, and its call retried or resumed as `max_attempts` allows. Remote workers use it too.
    hang_grace_s: float = 60.0
    # Tries in all for work whose worker died: an idempotent op (render, embed, rank shard, ...) is retried on another worker, training resumes from its last checkpoint on a new worker, a worker killed while starting is started again. Each retry is logged. Extraction shards follow `extract.max_attempts`.
    max_attempts: int = 3
    # Workers already running on other hosts (`lo-exp worker --bind tcp://HOST:PORT --keys DIR`), reached over ZeroMQ with CURVE and used beside the local ones: extraction shards and every other op go to them too. Their hosts must see the run's files (cache_dir, dataset, model) at the same paths, e.g. on a shared filesystem. See schemas/protocol/README.md, "Remote workers".
    remote: tuple[WorkersRemoteItem, ...] = ()

    @classmethod
    def from_json(cls: type[_T], data: Mapping[str, Any] | None, path: str) -> _T:
        """Build from JSON: unknown keys and wrong types raise ConfigError naming the path; defaults fill the rest."""
        return from_dict(cls, data, path)
