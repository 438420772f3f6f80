"""``lo-exp bench gpu``: every GPU path at 7B shapes, measured by one prepared command (< 8 min on one
H100), so that the rare minutes a GPU is lent are enough. ``--tiny`` runs the same code at toy sizes
on the CPU (the test suite does, so the script cannot rot).

    python -m linkedout.bench.gpu [--tiny] [--out FILE.json] [--device cuda]

Sections (progress on stderr, one line each; JSON + a markdown table at the end):

1. extraction: a random-initialised LLaVA-OneVision of the 7B's configuration built directly on the
   device (``build_random_backbone``), bf16, SDPA, 8 frames, 2 prompts, hooks on every 4th layer:
   ``hook_overhead`` (hooked vs plain row-by-row ``generate``, paired, at two batch sizes,
   ``bench/extract.py``); ``extract_s_per_video`` = end to end (``extract_shard`` over rendered mp4
   files into a TokenStore: decode, preprocess, one pass per video, reduce, store write) beside
   ``extract_s_per_video_generate`` (the model's calls alone); ``prompts_2_vs_1`` (2 prompts ÷ 1, end
   to end, same videos).
2. training: one ``train_step`` of the default model at 7B TokenStore shapes (d=3584, 7 taps, M=32,
   N_new=7, 2 prompts), 256 sequences per step (the MicroLens config), with training's precision and
   deterministic settings, for each ``train.feature_cache`` placement (off: read from the TokenStore;
   host; device), through the training loop's own code (``FeatureCache``, ``stage_features``).
   The store's pages are dropped from the page cache (``bench/pagecache.py``; JSON
   ``store_pages_dropped`` says whether that worked) before every read of it, so ``off`` reads the
   disk as a first epoch over a store larger than RAM does. ``train_step_s_from_store``: serial steps
   (gather + copy + step); ``train_step_s_pipelined``: the next batch staged while the step runs, as
   the loop does; ``train_store_over_resident`` = host ÷ device, pipelined;
   ``io_fraction = 1 - device / off`` (serial).
3. ranking: full-catalogue top-K for a batch of users over 1M item vectors (scores matmul + topk).

Goals (docs/benchmarks.md): 7B extraction <= 0.5 s/video on one H100, hook overhead <= 5 %,
train step with the host cache <= 1.25x resident. Peak GPU memory per section: ``peak_gpu_mb``.
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

GOALS = {"extract_s_per_video": 0.5, "hook_overhead": 0.05, "train_store_over_resident": 1.25}


@dataclass(frozen=True)
class Sizes:
    backbone: str  # build_random_backbone shape
    batch_sizes: tuple[int, int]  # (item, prompt) rows per generate call
    videos: int  # per batch size
    repeats: int
    train_preset: str  # bench/train.py PRESETS
    train_batch: int  # user sequences per step
    train_steps: int
    store_items: int  # catalogue of the on-disk store the steps draw from
    topk_items: int
    topk_users: int
    topk_k: int


SIZES = {
    # 7B: ~16 GiB weights; batch 32 rows x ~1.6k tokens; store 2048 items x 2 prompts x 1.95 MiB = 8 GiB;
    # 256 sequences per step (the MicroLens config), ≈ 1.2k distinct items of the 2048
    "gpu": Sizes("7b", (8, 32), 32, 3, "7b", 256, 5, 2048, 1_000_000, 1024, 100),
    "tiny": Sizes("tiny", (2, 4), 2, 1, "tiny", 8, 2, 32, 100_000, 64, 20),
}

Log = Callable[[str], None]


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def bench_extraction(dev: torch.device, sz: Sizes, work: Path, log: Log) -> dict[str, Any]:
    from linkedout.bench.extract import BENCH_PROMPTS, bench_config, bench_end_to_end, bench_prompts_ratio, render_catalogue
    from linkedout.extract.extractor import ExtractSettings, Extractor
    from linkedout.extract.tiny_model import build_random_backbone

    t0 = time.perf_counter()
    dtype = torch.bfloat16
    backbone = build_random_backbone(sz.backbone, dev, dtype)
    _sync(dev)
    log(f"extract: random {sz.backbone} LLaVA-OneVision built on {dev} in {time.perf_counter() - t0:.1f} s "
        f"({sum(p.numel() for p in backbone.model.parameters()) / 1e9:.2f} B params, bf16, sdpa)")
    prompts = BENCH_PROMPTS
    # the 7B taps the paper's layers (L0..L20; the last layer is stored too: 7 taps, the train preset's shapes);
    # the toy model taps every 4th layer by the same rule
    taps = (0, 4, 8, 12, 16, 20) if sz.backbone == "7b" else ()
    settings = ExtractSettings(frames=8, prompts=prompts, tap_every=4, taps=taps, merged_tokens=32, max_new_tokens=8, batch_size=1)
    side = int(backbone.processor.video_processor.size["height"])
    rows = []
    try:
        for b in sz.batch_sizes:
            n_rows = sz.videos * len(prompts)  # every video once per prompt: a row per (video, prompt)
            try:
                with torch.inference_mode():
                    r = bench_config(backbone, b, 8, n_rows, sz.repeats, ExtractSettings(**{**settings.__dict__, "batch_size": b}), side,
                                     lambda d, t, m: log(f"extract: {m}"))
                r["s_per_video"] = r["s_per_video"] * len(prompts)  # bench_config counts rows
                r["prompts"] = len(prompts)
                rows.append(r)
                log(f"extract: batch {b}: {r['s_per_video']:.3f} s/video, hook overhead {100 * r['hook_overhead']:+.1f} %")
            except torch.OutOfMemoryError:
                rows.append({"batch_size": b, "error": "out of memory"})
                log(f"extract: batch {b}: out of memory")
                gc.collect()
                torch.cuda.empty_cache()
        taps = Extractor(backbone, settings).taps
        # end to end, one pass per video: rendered files -> TokenStore, the larger batch (rows)
        catalogue = render_catalogue(work / "extract-videos", sz.videos, side if side % 2 == 0 else side + 1)
        e2e = bench_end_to_end(backbone, ExtractSettings(**{**settings.__dict__, "batch_size": max(sz.batch_sizes)}), catalogue, work,
                               sz.repeats, lambda d, t, m: log(f"extract: {m}"))
        log(f"extract: end to end {e2e['s_per_video_end_to_end']:.3f} s/video (generate alone {e2e['s_per_video_generate']:.3f})")
        ratio = bench_prompts_ratio(backbone, sz.backbone, catalogue[: max(2, sz.videos // 2)], work, 8, max(sz.batch_sizes) // 2 // len(prompts) or 1,
                                    1, settings.max_new_tokens, settings.tap_every, settings.merged_tokens, lambda d, t, m: log(f"extract: {m}"))
        log(f"extract: prompts 2 vs 1: {ratio['prompts_2_vs_1']:.2f} end to end ({ratio['prompts_2_vs_1_row_by_row']:.2f} row by row), "
            f"prefill {100 * ratio['prefill_share']:.0f} % of a row")
    finally:
        del backbone
        gc.collect()
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    ok = [r for r in rows if "error" not in r]
    return {
        "extract_rows": rows,
        "extract_taps": taps,
        "extract_s_per_video": e2e["s_per_video_end_to_end"],  # the goal applies to what users get: end to end
        "extract_s_per_video_generate": e2e["s_per_video_generate"],
        "extract_end_to_end": e2e,
        "hook_overhead": max((r["hook_overhead"] for r in ok), default=None),
        "prompts_2_vs_1": ratio["prompts_2_vs_1"],
        "prompts_2_vs_1_row_by_row": ratio["prompts_2_vs_1_row_by_row"],
        "extract_prefill_share": ratio["prefill_share"],
    }


def _write_store(dir: Path, sz: Sizes, log: Log) -> None:
    from linkedout.bench.train import PRESETS
    from linkedout.store.token_store import FeatureBatch, StoreSettings, TokenStoreWriter, finalize_store

    p = PRESETS[sz.train_preset]
    s = StoreSettings(key="bench-gpu", model=f"random-{sz.backbone}", dataset="bench", taps=tuple(range(p.taps)), num_layers=p.taps,
                      d_model=p.d_model, merged_tokens=p.merged, new_tokens=p.new, max_new_tokens=p.new + 1,
                      prompts=tuple(f"prompt {i}" for i in range(p.prompts)), frames=8)
    items = [f"i{k:07d}" for k in range(sz.store_items)]
    w = TokenStoreWriter(dir, s).shard(0, 1)
    g = torch.Generator().manual_seed(0)
    chunk = 64
    for a in range(0, len(items), chunk):
        its = items[a : a + chunk]
        r = len(its) * p.prompts
        w.write_part(FeatureBatch(
            items=[i for i in its for _ in range(p.prompts)], prompts=[q for _ in its for q in range(p.prompts)], n_old=[1000] * r,
            old_merged=torch.randn(r, p.taps, p.merged, p.d_model, generator=g, dtype=torch.bfloat16),
            old_merged_size=torch.randint(1, 60, (r, p.taps, p.merged), generator=g).float(),
            new=torch.randn(r, p.taps, p.new, p.d_model, generator=g, dtype=torch.bfloat16),
            old_mean=torch.zeros(r, p.taps, p.d_model), old_last=torch.zeros(r, p.taps, p.d_model), new_last=torch.zeros(r, p.taps, p.d_model)))
    w.finalize(items, rebuild_manifest=False)
    finalize_store(dir, items)
    log(f"train: wrote a {sz.store_items}-item TokenStore at {sz.train_preset} shapes "
        f"({sum(f.stat().st_size for f in dir.glob('shard-*.arrow')) / 2**30:.2f} GiB)")


def _peak_mb(dev: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else None


def _reset_peak(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)


def _timed_steps(sc: Any, batches: list[Any], pipelined: bool, before_step: Callable[[], Any] | None, dev: torch.device) -> float:
    """Seconds per step over `batches` (the caller has warmed the model up).

    serial: stage the batch's features, then step (each step pays the gather and the copy), with
    `before_step` (dropping the store's pages; reopening it) run outside the clock; the median.
    pipelined: as the training loop runs them, each batch's features staged on the producer thread a
    batch ahead (batching.prefetch) while the current step runs; wall time / steps."""
    from linkedout.train.batching import prefetch
    from linkedout.train.loop import stage_features, train_step

    if pipelined:
        _sync(dev)
        t0 = time.perf_counter()
        for batch, staged in prefetch((b, stage_features(sc, b)) for b in batches):
            train_step(sc, batch, staged)
        _sync(dev)
        return (time.perf_counter() - t0) / len(batches)
    times = []
    for b in batches:
        if before_step is not None:
            before_step()
        _sync(dev)
        t0 = time.perf_counter()
        train_step(sc, b, stage_features(sc, b))
        _sync(dev)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_training(dev: torch.device, sz: Sizes, work: Path, log: Log) -> dict[str, Any]:
    """One training step at 7B TokenStore shapes for each `train.feature_cache` placement, with the
    training loop's own code (FeatureCache, stage_features, train_step), deterministic settings and
    precision; the store's pages are dropped from the page cache before every read of it."""
    from linkedout.bench.pagecache import drop_pages
    from linkedout.bench.train import PRESETS
    from linkedout.model.config import RecommenderConfig
    from linkedout.model.losses import LossWeights
    from linkedout.store.token_store import TokenStore
    from linkedout.train.batching import make_batch
    from linkedout.train.data import Catalogue, ContentSource
    from linkedout.train.feature_cache import FeatureCache
    from linkedout.train.loop import DistContext, StepContext, apply_determinism, build_model, build_optimizer, resolve_precision, train_step
    from linkedout.train.spec import TrainConfig

    store_dir = work / "store"
    _write_store(store_dir, sz, log)
    files = sorted(store_dir.glob("shard-*.arrow"))
    p = PRESETS[sz.train_preset]
    cfg, tcfg = RecommenderConfig(), TrainConfig()
    precision = resolve_precision(tcfg.precision, dev)  # as training: bf16 on a GPU, fp32 on the CPU
    k = sz.store_items
    rng = np.random.default_rng(0)
    batches = [make_batch([rng.choice(k, size=int(n), replace=False) for n in rng.integers(3, 12, size=sz.train_batch)], cfg.ranker.max_history)
               for _ in range(sz.train_steps + 1)]
    out: dict[str, Any] = {"train_items_per_step": statistics.mean(int(b.candidates.shape[0]) for b in batches),
                           "train_batch_sequences": sz.train_batch, "train_precision": precision,
                           "train_deterministic": tcfg.deterministic, "train_step_s_from_store": {}, "train_step_s_pipelined": {},
                           "feature_cache_fill_s": {}, "peak_gpu_mb_train": {}}
    shapes = {"n_items": k, "d_model": p.d_model, "n_taps": p.taps, "n_prompts": p.prompts, "taps": []}
    drops: list[dict[str, Any]] = []
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    apply_determinism(tcfg.deterministic, dev)
    try:
        for mode in ("off", "host", "device"):
            opened: dict[str, Any] = {}

            def reopen() -> None:
                """A cold store: unmap it (mapped pages cannot be dropped), drop its pages, map it again."""
                opened.clear()
                gc.collect()
                drops.append(drop_pages(files))
                store = TokenStore.open(store_dir)
                catalogue = Catalogue(items=list(store.items), train_count=np.ones(k, dtype=np.int64), index={it: i for i, it in enumerate(store.items)})
                opened["content"] = ContentSource(store, catalogue, cfg)
                t0 = time.perf_counter()
                opened["cache"] = FeatureCache(opened["content"], k, dev, mode, 1.0)
                _sync(dev)
                opened["fill_s"] = time.perf_counter() - t0

            _reset_peak(dev)
            reopen()
            if mode != "off":  # the table is filled from the cold store once; the steps do not read the store
                out["feature_cache_fill_s"][mode] = opened["fill_s"]
            model = build_model(cfg, shapes, tcfg.seed).to(dev)
            sc = StepContext(model=model, wrapped=model, optimizer=build_optimizer(model, tcfg, dev), scaler=torch.amp.GradScaler("cuda", enabled=False),
                             content=opened["content"], dist=DistContext(), device=dev, precision=precision,
                             log_popularity=torch.zeros(k, device=dev), tcfg=tcfg, features=opened["cache"],
                             loss_weights=LossWeights(tcfg.loss.align_weight, tcfg.loss.uniformity_gamma, cfg.moe.load_balance_weight))

            def cold() -> None:
                sc.content = sc.features = None  # the step context maps the store too
                reopen()
                sc.content, sc.features = opened["content"], opened["cache"]

            for b in batches:  # allocator, kernels for each batch's shapes: counted in neither figure
                train_step(sc, b)
            serial = _timed_steps(sc, batches[1:], False, cold if mode == "off" else None, dev)
            if mode == "off":
                cold()  # the pipelined run starts from a cold store too
            pipelined = _timed_steps(sc, batches[1:], True, None, dev)
            out["train_step_s_from_store"][mode], out["train_step_s_pipelined"][mode] = serial, pipelined
            out["peak_gpu_mb_train"][mode] = _peak_mb(dev)
            log(f"train: feature_cache {mode}: {serial:.3f} s/step serial, {pipelined:.3f} s/step pipelined "
                f"({out['train_items_per_step']:.0f} items/step, {sz.train_batch} sequences)")
            del model, sc
            opened.clear()
            gc.collect()
            if dev.type == "cuda":
                torch.cuda.empty_cache()
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
    steps, piped = out["train_step_s_from_store"], out["train_step_s_pipelined"]
    out["train_step_s_resident"] = steps["device"]
    out["train_store_over_resident"] = piped["host"] / piped["device"]  # the goal: host cache, copy overlapped, vs resident
    out["io_fraction"] = max(0.0, 1 - steps["device"] / steps["off"])  # of a cold-store step, the share spent reading
    out["store_pages_dropped"] = {"ok": all(d["ok"] for d in drops), "drops": len(drops),
                                  "resident_mib_after_max": max(d["resident_mib_after"] for d in drops),
                                  "errors": sorted({d["error"] for d in drops if d["error"]})}
    out["train_store_gib"] = sum(f.stat().st_size for f in files) / 2**30
    shutil.rmtree(store_dir, ignore_errors=True)
    return out


def bench_topk(dev: torch.device, sz: Sizes, log: Log) -> dict[str, Any]:
    from linkedout.model.config import RecommenderConfig

    d = RecommenderConfig().d_z
    g = torch.Generator(device=dev).manual_seed(0) if dev.type == "cuda" else torch.Generator().manual_seed(0)
    items = torch.randn(sz.topk_items, d, generator=g, device=dev)
    users = torch.randn(sz.topk_users, d, generator=g, device=dev)
    times = []
    for i in range(4):
        _sync(dev)
        t0 = time.perf_counter()
        top = torch.topk(users @ items.T, sz.topk_k, dim=1)  # scores [users, items] -> [users, K]
        _sync(dev)
        if i > 0:
            times.append(time.perf_counter() - t0)
    assert top.indices.shape == (sz.topk_users, sz.topk_k)
    ms = 1000 * statistics.median(times)
    log(f"topk: {sz.topk_users} users x {sz.topk_items} items (d={d}), top-{sz.topk_k}: {ms:.1f} ms")
    return {"topk_1m_ms": ms, "topk_items": sz.topk_items, "topk_users": sz.topk_users, "topk_k": sz.topk_k, "topk_d": d}


def bench_gpu(tiny: bool, device: str | None = None, log: Log = lambda m: None, work_dir: str | None = None) -> dict[str, Any]:
    dev = torch.device(device or ("cpu" if tiny else "cuda"))
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench gpu: no CUDA device visible to torch (use --tiny for the CPU smoke run)")
    sz = SIZES["tiny" if tiny else "gpu"]
    t0 = time.perf_counter()
    result: dict[str, Any] = {
        "bench": "gpu", "tiny": tiny, "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "torch": torch.__version__, "threads": torch.get_num_threads(), "goals": GOALS,
    }
    work = Path(tempfile.mkdtemp(prefix="lo-bench-gpu-", dir=work_dir))  # the store: on a disk (tmpfs pages cannot be dropped)
    try:
        peaks: dict[str, float | None] = {}
        for section, run in (("extraction", lambda: bench_extraction(dev, sz, work, log)), ("training", lambda: bench_training(dev, sz, work, log)),
                             ("topk", lambda: bench_topk(dev, sz, log))):
            _reset_peak(dev)
            section_result = run()
            result.update(section_result)
            per_mode = [v for v in section_result.get("peak_gpu_mb_train", {}).values() if v is not None]
            peaks[section] = max(per_mode) if per_mode else _peak_mb(dev)  # training resets per placement
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["peak_gpu_mb"] = peaks
    result["seconds"] = time.perf_counter() - t0
    result["meets_goals"] = {
        "extract_s_per_video": result["extract_s_per_video"] is not None and result["extract_s_per_video"] <= GOALS["extract_s_per_video"],
        "hook_overhead": result["hook_overhead"] is not None and result["hook_overhead"] <= GOALS["hook_overhead"],
        "train_store_over_resident": result["train_store_over_resident"] <= GOALS["train_store_over_resident"],
    }
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m linkedout.bench.gpu", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tiny", action="store_true", help="the same code paths at toy sizes on the CPU")
    p.add_argument("--device", default=None, help="default cuda (cpu with --tiny)")
    p.add_argument("--out", default=None, help="write the JSON here (stdout otherwise)")
    p.add_argument("--work", default=None, help="directory for the on-disk TokenStore (default: the system temp dir; must be a disk, not tmpfs)")
    ns = p.parse_args(argv)
    t0 = time.perf_counter()

    def log(m: str) -> None:
        sys.stderr.write(f"[bench gpu {time.perf_counter() - t0:6.1f}s] {m}\n")
        sys.stderr.flush()

    result = bench_gpu(ns.tiny, ns.device, log, ns.work)
    text = json.dumps(result, indent=2) + "\n"
    if ns.out:
        Path(ns.out).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
