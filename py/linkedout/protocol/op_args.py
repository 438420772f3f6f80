# generated, do not edit: `npm run gen:config` (scripts/gen-python.ts) writes this file from
# schemas/protocol/ops/<op>.args.schema.json; change the schema, then regenerate.
# ruff: noqa
"""Each worker op's args as a dataclass: fields, types and defaults from schemas/protocol/ops/.

The worker validates args against the schema before a handler runs; `<Op>Args.from_json(args, "args")`
then gives the handler typed values with the schema's defaults filled in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, TypeVar

from linkedout.config.typed import from_dict
from linkedout.config.generated import ExtractSection
from linkedout.config.generated import ServeAnn
from linkedout.config.generated import ServeTower

_T = TypeVar("_T")


AddItemsModelDtype = Literal["auto", "float32", "bfloat16", "float16"]


@dataclass(frozen=True, kw_only=True)
class AddItemsArgs:
    """add_items: extract new videos with the run's extraction settings, fuse them with the trained model, append them to the EmbeddingStore (no retraining)"""

    # training run directory (best.pt)
    run_dir: str
    # EmbeddingStore directory; default <run_dir>/embeddings
    store_dir: str | None = None
    # the catalogue's TokenStore (its settings are reused); default: the one recorded by embed in store.json
    token_store: str | None = None
    # backbone directory or hub id; default: the one recorded in the catalogue TokenStore
    model_path: str | None = None
    model_dtype: AddItemsModelDtype = "auto"
    # extraction rows per generate call
    batch_size: int = 8
    # the new items: id, video file, and side channels (e.g. title) as in items.arrow
    videos: tuple[dict[str, Any], ...]

    @classmethod
    def from_json(cls: type[_T], data: Mapping[str, Any] | None, path: str) -> _T:
        """Build from JSON: unknown keys and wrong types raise ConfigError naming the path; defaults fill the rest."""
        return from_dict(cls, data, path)


@dataclass(frozen=True, kw_only=True)
class BenchAddItemsArgs:
    """bench_add_items: append more items of the bench catalogue to its EmbeddingStore (the during-add load test)"""

    store_dir: str
    count: int
    # EmbeddingStore.add calls
    batches: int = 10

    @classmethod
    def from_json(cls: type[_T], data: Mapping[str, Any] | None, path: str) -> _T:
        """Build from JSON: unknown keys and wrong types raise ConfigError naming the path; defaults fill the rest."""
        return from_dict(cls, data, path)


BenchExtractRatioShape = Literal["", "lm-small", "0.5b-lm", "7b"]


@dataclass(frozen=True, kw_only=True)
class BenchExtractArgs:
    """bench_extract args"""

    # 7B-configuration model with random bf16 weights on the worker's GPU; otherwise the tiny model on CPU.
    gpu: bool = False
    # CPU only: a local model directory instead of a freshly built tiny model.
    model_path: str = ""
    # Videos per generate call (default [8] on CPU, [1,2,4,8,16,32] on GPU).
    batch_sizes: tuple[int, ...] = ()
    # Frames per video (default [8] on CPU, [8,32] on GPU).
    frames: tuple[int, ...] = ()
    # Videos per configuration (0: max(2 x batch, 64 on CPU / 16 on GPU)).
    items: int = 0
    # Paired plain/hooks repeats; the median ratio is reported.
    repeats: int = 5
    # Tokens generated per video.
    max_new_tokens: int = 8
    # Rendered videos extracted end to end (0: 16 on CPU, 32 on GPU).
    e2e_videos: int = 0
    # Rendered videos extracted with 1 and with 2 prompts for prompts_2_vs_1 (0: 3 on CPU, 16 on GPU).
    ratio_videos: int = 0
    # Alternating repeats of the prompts_2_vs_1 runs (0: min(repeats, 3)).
    ratio_repeats: int = 0
    # Frames per video for prompts_2_vs_1 (0: 12 on CPU, so that prefill is >= 80 % of a row; 8 on GPU).
    ratio_frames: int = 0
    # Random backbone of prompts_2_vs_1 (py/linkedout/extract/tiny_model.py; empty: lm-small on CPU, 7b on GPU).
    ratio_shape: BenchExtractRatioShape = ""

    @classmethod
    def from_json(cls: type[_T], data: Mapping[str, Any] | None, path: str) -> _T:
        """Build from JSON: unknown keys and wrong types raise ConfigError naming the path; defaults fill the rest."""
        return from_dict(cls, data, path)


@dataclass(frozen=True, kw_only=True)
class BenchRankFloorArgs:
    """bench_rank_floor args"""

    # Users ranked (this worker's share).
    users: int
    # Catalogue size.
    items: int
    # Vector width (the model's d_z).
    d: int
    # Top-K length (train.topk).
    k: int = 20
    # Users per batch, as the rank op uses them.
    batch_users: int = 1024
    # torch threads for the call; null = the worker's own setting (as the rank op runs).
    threads: int | None = None

    @classmethod
    def from_json(cls: type[_T], data: Mapping[str, Any] | None, path: str) -> _T:
        """Build from JSON: unknown keys and wrong types raise ConfigError naming the path; defaults fill the rest."""
        return from_dict(cls, data, path)


@dataclass(frozen=True, kw_only=True)
class BenchServeArgs:
    """bench_serve: paper Table 5 rows (a) direct VLLM, (b) MoE fusion per query, (c) ours, (d) bare matmul + top-K; optionally write a servable run for the HTTP load test"""

    catalogues: tuple[int, ...] = (20000, 200000)
    # timed single queries per path and catalogue
    queries: int = 300
    batch: int = 256
    k: int = 10
    # stop timing path (b) after this long (at least 3 queries)
    paper_budget_s: float = 20.0
    # 0 skips path (a)
    vllm_queries: int = 3
    vllm_candidates: int = 8
    # tiny LLaVA-OneVision for (a); default: built under work_dir
    tiny_model_dir: str | None = None
    # scratch directory (tiny model)
    work_dir: str | None = None
    # write a servable run (best.pt + embeddings) here
    load_run_dir: str | None = None
    # items of that run; default the first catalogue
    load_catalogue: int | None = None

    @classmethod
    def from_json(cls: type[_T], data: Mapping[str, Any] | None, path: str) -> _T:
        """Build from JSON: unknown keys and wrong types raise ConfigError naming the path; defaults fill the rest."""
        return from_dict(cls, data, path)


@dataclass(frozen=True, kw_only=True)
class BenchServeScaleArgs:
    """bench_serve_scale: ANN vs exact at catalogue scale (lo-exp bench serve --items N): recall@10, latency, index build time; writes a servable run"""

    # catalogue size
    items: int
    # queries from topic histories (recall and latency over all of them)
    queries: int = 1000
    # single exact queries timed, interleaved with the ANN ones
    exact_timed: int = 100
    k: int = 10
    # serve.ann (schemas/config/serve.schema.json)
    ann: ServeAnn | None = None
    # the servable run goes to <work_dir>/run-<items>
    work_dir: str

    @classmethod
    def from_json(cls: type[_T], data: Mapping[str, Any] | None, path: str) -> _T:
        """Build from JSON: unknown keys and wrong types raise ConfigError naming the path; defaults fill the rest."""
        return from_dict(cls, data, path)


BenchTrainPreset = Literal["tiny", "7b"]


BenchTrainPrecisionsItem = Literal["fp32", "bf16", "fp16"]


@dataclass(frozen=True, kw_only=True)
class BenchTrainArgs:
    """bench_train args"""

    # TokenStore shapes: tiny = the quick-start backbone (d=64, 2 taps); 7b = LLaVA-OneVision-7B (d=3584, 7 taps); M=32, N_new=7, 2 prompts.
    preset: BenchTrainPreset = "tiny"
    # Sequences per step; 0 = train.batch_size default (256).
    batch_size: int = 0
    # Measured steps (median reported).
    steps: int = 5
    # Unmeasured steps first.
    warmup: int = 1
    # Precisions to run; [] = fp32 on CPU, fp32 and bf16 on GPU.
    precisions: tuple[BenchTrainPrecisionsItem, ...] = ()

    @classmethod
    def from_json(cls: type[_T], data: Mapping[str, Any] | None, path: str) -> _T:
        """Build from JSON: unknown keys and wrong types raise ConfigError naming the path; defaults fill the rest."""
        return from_dict(cls, data, path)


@dataclass(frozen=True, kw_only=True)
class BuildIndexArgs:
    """build_index: build (or rebuild) the ANN index of an EmbeddingStore and save it beside the store (lo-exp serve --build-index)"""

    # training run directory
    run_dir: str
    # EmbeddingStore directory; default <run_dir>/embeddings
    store_dir: str | None = None
    # the resolved serve.ann section (schemas/config/serve.schema.json, the one place its keys and defaults are written)
    ann: ServeAnn | None = None
    # false: keep a saved index that is current
    rebuild: bool = True
    # threads of the build
    threads: int | None = None

    @classmethod
    def from_json(cls: type[_T], data: Mapping[str, Any] | None, path: str) -> _T:
        """Build from JSON: unknown keys and wrong types raise ConfigError naming the path; defaults fill the rest."""
        return from_dict(cls, data, path)


@dataclass(frozen=True, kw_only=True)
class BuildTinyModelArgs:
    """build_tiny_model args"""

    # Directory to write (created if missing).
    out: str
    # Language model hidden size (a multiple of its 4 attention heads).
    hidden: int = 64
    # Language model decoder layers.
    layers: int = 8
    # Frame side in pixels (patch size 8, so (image_size/8)^2 patches per frame).
    image_size: int = 32
    # Seeds the random weights.
    seed: int = 0

    @classmethod
    def from_json(cls: type[_T], data: Mapping[str, Any] | None, path: str) -> _T:
        """Build from JSON: unknown keys and wrong types raise ConfigError naming the path; defaults fill the rest."""
        return from_dict(cls, data, path)


@dataclass(frozen=True, kw_only=True)
class EchoArgs:
    """echo: returns its frames and `value` unchanged (diagnostics, tests, transport benchmark)"""

    # any JSON, returned as result.value
    value: Any = None
    # sleep this long first (in progress_steps steps if given)
    delay_s: float | None = None
    # emit this many progress messages
    progress_steps: int | None = None
    # raise RuntimeError(raise_error) in the handler (tests the error path)
    raise_error: str | None = None

    @classmethod
    def from_json(cls: type[_T], data: Mapping[str, Any] | None, path: str) -> _T:
        """Build from JSON: unknown keys and wrong types raise ConfigError naming the path; defaults fill the rest."""
        return from_dict(cls, data, path)


EmbedIndex = Literal["exact", "ann", "auto"]


@dataclass(frozen=True, kw_only=True)
class EmbedArgs:
    """embed: after training, write every catalogue item's z_v and gate weights π to the run's EmbeddingStore"""

    # training run directory (best.pt)
    run_dir: str
    # the split the run trained on (items.arrow gives catalogue order); default: split_dir of <run_dir>/spec.json
    split_dir: str | None = None
    # TokenStore directory of the catalogue; null = the one the run was trained on (store of <run_dir>/spec.json; null for ID-only models)
    store: str | None = None
    # store directory; default <run_dir>/embeddings
    out: str | None = None
    # items per item-tower forward
    batch_size: int = 256
    # torch intra-op threads for this call: the run's cores (the stage runs on one worker); null = the worker's own setting
    threads: int | None = None
    # serve.index of the run: `ann`, or `auto` above ann.exact_up_to items, also builds the ANN index beside the store (<out>/index/)
    index: EmbedIndex = "exact"
    # the resolved serve.ann section (schemas/config/serve.schema.json, the one place its keys and defaults are written)
    ann: ServeAnn | None = None

    @classmethod
    def from_json(cls: type[_T], data: Mapping[str, Any] | None, path: str) -> _T:
        """Build from JSON: unknown keys and wrong types raise ConfigError naming the path; defaults fill the rest."""
        return from_dict(cls, data, path)


ExtractModelDtype = Literal["auto", "float32", "float16", "bfloat16"]


@dataclass(frozen=True, kw_only=True)
class ExtractModel:
    """ExtractModel"""

    # Local model directory or hub id.
    path: str
    # Compute dtype; auto = bf16 on GPU, fp32 on CPU.
    dtype: ExtractModelDtype = "auto"


@dataclass(frozen=True, kw_only=True)
class ExtractArgs:
    """extract args"""

    # TokenStore directory (created if missing).
    store: str
    # Content hash naming the store (written to the manifest).
    key: str
    # Dataset identity, recorded in the manifest.
    dataset: str = ""
    # This shard's index.
    shard: int
    # How many shards the catalogue is split into.
    num_shards: int
    # Re-attempt items recorded as failed.
    retry_failed: bool = False
    # The shard's items, in catalogue order.
    items: tuple[dict[str, Any], ...]
    model: ExtractModel
    # The resolved `extract` config section (schemas/config/extract.schema.json, the one place its keys and defaults are written) less its `x-scheduler-only` keys, which ExtractSettings.from_json refuses.
    extract: ExtractSection | None = None

    @classmethod
    def from_json(cls: type[_T], data: Mapping[str, Any] | None, path: str) -> _T:
        """Build from JSON: unknown keys and wrong types raise ConfigError naming the path; defaults fill the rest."""
        return from_dict(cls, data, path)


@dataclass(frozen=True, kw_only=True)
class FinalizeStoreArgs:
    """finalize_store args"""

    # The TokenStore directory.
    store: str
    # Every catalogue item id; when given, each must be in the store exactly once (extracted or failed) and no other.
    items: tuple[str, ...] | None = None

    @classmethod
    def from_json(cls: type[_T], data: Mapping[str, Any] | None, path: str) -> _T:
        """Build from JSON: unknown keys and wrong types raise ConfigError naming the path; defaults fill the rest."""
        return from_dict(cls, data, path)


@dataclass(frozen=True, kw_only=True)
class HelloArgs:
    """hello: the handshake; the worker answers with its protocol, pid, device and package versions"""

    # the protocol version the caller speaks
    protocol: int
    # a private (0700, same user) directory, normally under /dev/shm, for shm frames of tensors of at least shm_min_bytes; omit to keep all frames on the socket
    shm_dir: str | None = None
    # result frames at least this large go through shm_dir
    shm_min_bytes: int | None = None

    @classmethod
    def from_json(cls: type[_T], data: Mapping[str, Any] | None, path: str) -> _T:
        """Build from JSON: unknown keys and wrong types raise ConfigError naming the path; defaults fill the rest."""
        return from_dict(cls, data, path)


@dataclass(frozen=True, kw_only=True)
class MatmulArgs:
    """matmul: frames a [n,k] and b [k,m] (floating) -> frame c = a @ b (float32); checks dtype and shape"""

    pass

    @classmethod
    def from_json(cls: type[_T], data: Mapping[str, Any] | None, path: str) -> _T:
        """Build from JSON: unknown keys and wrong types raise ConfigError naming the path; defaults fill the rest."""
        return from_dict(cls, data, path)


@dataclass(frozen=True, kw_only=True)
class PingArgs:
    """ping: answered on the socket thread, even while an op runs"""

    pass

    @classmethod
    def from_json(cls: type[_T], data: Mapping[str, Any] | None, path: str) -> _T:
        """Build from JSON: unknown keys and wrong types raise ConfigError naming the path; defaults fill the rest."""
        return from_dict(cls, data, path)


@dataclass(frozen=True, kw_only=True)
class PlotReportArgs:
    """plot_report args"""

    # Folder for the PNG files (created if missing).
    out_dir: str
    # gates.arrow: the training loop's format (item, gates fixed_size_list<float32>[T], metadata taps) or long format (item, layer, gate); empty = no gate plots.
    gates_path: str = ""
    # train_log.arrow (epoch/step + numeric columns); empty = no training curves.
    train_log_path: str = ""
    # Plot title prefix (e.g. the run name).
    title: str = ""
    # epochs.arrow (epoch + per-epoch columns such as valid_hr10); empty = no epoch curves.
    epochs_path: str = ""
    # table.arrow of an experiment table (ts/schedule/table.ts): table.png, one panel per slice and metric, bars at the mean with 95 % interval error bars and a dot per seed; empty = none.
    table_path: str = ""

    @classmethod
    def from_json(cls: type[_T], data: Mapping[str, Any] | None, path: str) -> _T:
        """Build from JSON: unknown keys and wrong types raise ConfigError naming the path; defaults fill the rest."""
        return from_dict(cls, data, path)


RankSplit = Literal["valid", "test"]


@dataclass(frozen=True, kw_only=True)
class RankShard:
    """User shard: users are cut into `count` contiguous, equal (last shorter) ranges in file order."""

    # This shard, 0-based.
    index: int
    # Number of shards.
    count: int


@dataclass(frozen=True, kw_only=True)
class RankArgs:
    """rank args"""

    # A finished training run (best.pt, spec.json).
    run_dir: str
    # Which held-out split to rank.
    split: RankSplit
    # User shard: users are cut into `count` contiguous, equal (last shorter) ranges in file order.
    shard: RankShard
    # Output Arrow file (written to a temporary name, then renamed).
    out: str
    # Split directory; empty = the one the run was trained on.
    split_dir: str = ""
    # TokenStore directory; null = the one the run was trained on.
    store: str | None = None
    # Length of the top-K list per user; absent = train.topk of the run.
    topk: int | None = None
    # Users scored per matrix product; absent = train.eval_batch_users of the run.
    batch_users: int | None = None

    @classmethod
    def from_json(cls: type[_T], data: Mapping[str, Any] | None, path: str) -> _T:
        """Build from JSON: unknown keys and wrong types raise ConfigError naming the path; defaults fill the rest."""
        return from_dict(cls, data, path)


RecommendIndex = Literal["exact", "ann", "auto"]


@dataclass(frozen=True, kw_only=True)
class RecommendQueriesItem:
    """RecommendQueriesItem"""

    # oldest first; 1..10 item ids
    history: tuple[str, ...]
    k: int = 10
    # further item ids never to return
    exclude: tuple[str, ...] | None = None
    # return π of the returned items
    gates: bool = False


@dataclass(frozen=True, kw_only=True)
class RecommendArgs:
    """recommend: online top-K for a batch of user histories over the run's EmbeddingStore (store and user tower stay loaded in the worker)"""

    # training run directory (best.pt)
    run_dir: str
    # EmbeddingStore directory; default <run_dir>/embeddings
    store_dir: str | None = None
    # largest k a query may ask for
    max_k: int = 1000
    # check the store for added items at most this often
    refresh_s: float = 0.5
    # serve.index (schemas/config/serve.schema.json): exact, ann, or auto (exact up to ann.exact_up_to items)
    index: RecommendIndex = "exact"
    # serve.tower: frozen (checked bitwise at load, else eager) or eager
    tower: ServeTower | None = None
    # the resolved serve.ann section (schemas/config/serve.schema.json, the one place its keys and defaults are written)
    ann: ServeAnn | None = None
    # threads of a FAISS index build (serve.threads)
    threads: int | None = None
    # empty: only load the store and report the catalogue. Each query is validated in the handler and answered with items or an error object (status, message) of its own.
    queries: tuple[RecommendQueriesItem, ...]

    @classmethod
    def from_json(cls: type[_T], data: Mapping[str, Any] | None, path: str) -> _T:
        """Build from JSON: unknown keys and wrong types raise ConfigError naming the path; defaults fill the rest."""
        return from_dict(cls, data, path)


RenderVideosCodec = Literal["mpeg4", "libx264"]


RenderVideosSpecsItemShape = Literal["circle", "ring", "square", "diamond", "triangle", "cross", "bar"]


RenderVideosSpecsItemMotion = Literal["left_right", "up_down", "orbit", "diagonal", "zoom", "spin"]


@dataclass(frozen=True, kw_only=True)
class RenderVideosSpecsItem:
    """RenderVideosSpecsItem"""

    # Item id; the file name stem.
    item: str
    # Background RGB.
    background: tuple[int, ...]
    # Shape RGB.
    foreground: tuple[int, ...]
    # Foreground shape.
    shape: RenderVideosSpecsItemShape
    # How the shape moves over the clip.
    motion: RenderVideosSpecsItemMotion
    # Shape half-extent as a fraction of the frame side.
    size: float
    # Fixed rotation of the shape, degrees.
    angle: float = 0.0
    # Motion cycles over the clip.
    speed: float = 1.0
    # Start of the motion cycle.
    phase: float = 0.0
    # Clip duration in seconds.
    seconds: float
    # Per-pixel uniform noise amplitude.
    noise: float = 0.0
    # Seeds the per-pixel noise.
    seed: int = 0


@dataclass(frozen=True, kw_only=True)
class RenderVideosArgs:
    """render_videos args"""

    # Directory for <item>.mp4 (created if missing).
    videos_dir: str
    # Directory for <item>.jpg (created if missing).
    covers_dir: str
    # Frame width in pixels (even, for yuv420p).
    width: int = 64
    # Frame height in pixels (even, for yuv420p).
    height: int = 64
    # Frames per second.
    fps: int = 8
    # Video encoder: mpeg4 (MPEG-4 part 2, default) or libx264 (H.264, lookahead off); one thread, deterministic.
    codec: RenderVideosCodec = "mpeg4"
    # Re-render items whose files already exist.
    overwrite: bool = False
    # One visual spec per item.
    specs: tuple[RenderVideosSpecsItem, ...]

    @classmethod
    def from_json(cls: type[_T], data: Mapping[str, Any] | None, path: str) -> _T:
        """Build from JSON: unknown keys and wrong types raise ConfigError naming the path; defaults fill the rest."""
        return from_dict(cls, data, path)


@dataclass(frozen=True, kw_only=True)
class ShutdownArgs:
    """shutdown: reply, then stop serving and exit 0"""

    pass

    @classmethod
    def from_json(cls: type[_T], data: Mapping[str, Any] | None, path: str) -> _T:
        """Build from JSON: unknown keys and wrong types raise ConfigError naming the path; defaults fill the rest."""
        return from_dict(cls, data, path)


@dataclass(frozen=True, kw_only=True)
class TrainArgs:
    """train args"""

    # Output directory: spec.json, checkpoint.pt, best.pt, train_log.arrow, epochs.arrow, gates.arrow, ranks.arrow.
    run_dir: str
    # Directory with items.arrow, train.arrow, valid.arrow, test.arrow (docs/architecture.md).
    split_dir: str
    # TokenStore directory; null for ID-only models (recommender.item_content=false).
    store: str | None = None
    # The resolved `recommender` config section (schemas/config/recommender.schema.json); checked strictly in Python (unknown key = error).
    recommender: dict[str, Any] = field(default_factory=lambda: {})
    # The resolved `train` config section (schemas/config/train.schema.json); checked strictly in Python.
    train: dict[str, Any] = field(default_factory=lambda: {})
    # Continue from run_dir/checkpoint.pt when it exists (a checkpoint of a different config is an error).
    resume: bool = True
    # Leave after this many finished epochs (preemptible jobs); rerun with resume to continue.
    stop_after_epoch: int | None = None
    # At the end, write ranks.arrow for all valid and test users with the best weights.
    write_ranks: bool = True
    # auto (the worker's device) | cpu | cuda | cuda:N.
    device: str = "auto"
    # torch intra-op threads for this call (not part of the spec): the run's cores when training runs on one worker while the others idle; null = the worker's own setting.
    threads: int | None = None

    @classmethod
    def from_json(cls: type[_T], data: Mapping[str, Any] | None, path: str) -> _T:
        """Build from JSON: unknown keys and wrong types raise ConfigError naming the path; defaults fill the rest."""
        return from_dict(cls, data, path)
