"""``lo-exp bench gpu``: every GPU path at 7B shapes, measured by one prepared command (< 8 min on one
H100), so that the rare minutes a GPU is lent are enough. ``--tiny`` runs the same code at toy sizes
on the CPU (the test suite does, so the script cannot rot).

    python -m linkedout.bench.gpu [--tiny] [--out FILE.json] [--device cuda]

Sections (progress on stderr, one line each; JSON + a markdown table at the end):

1. extraction: a random-initialised LLaVA-OneVision of the 7B's configuration built directly on the
   device (``build_random_backbone``), bf16, SDPA, 8 frames, 2 prompts, hooks on every 4th layer;
   seconds per video (both prompts) at two batch sizes, and ``hook_overhead`` (hooked vs plain
   ``generate``, paired, ``bench/extract.py``).
2. training: one ``train_step`` of the default model at 7B TokenStore shapes (d=3584, 7 taps, M=32,
   N_new=7, 2 prompts) in bf16 with the features resident on the device vs gathered from an on-disk
   TokenStore (``ContentSource``, what training uses); ``io_fraction = 1 - resident / from_store``.
3. ranking: full-catalogue top-K for a batch of users over 1M item vectors (scores matmul + topk).

Goals (docs/benchmarks.md): 7B extraction <= 0.5 s/video on one H100, hook overhead <= 5 %,
train step from the store <= 1.25x resident.
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
    # 7B: ~16 GiB weights; batch 32 rows x ~1.6k tokens; store 1024 items x 2 prompts x 1.95 MiB = 4 GiB
    "gpu": Sizes("7b", (8, 32), 32, 3, "7b", 64, 5, 1024, 1_000_000, 1024, 100),
    "tiny": Sizes("tiny", (2, 4), 2, 1, "tiny", 8, 2, 32, 100_000, 64, 20),
}

Log = Callable[[str], None]


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def bench_extraction(dev: torch.device, sz: Sizes, log: Log) -> dict[str, Any]:
    from linkedout.config import default
    from linkedout.bench.extract import bench_config
    from linkedout.extract.extractor import ExtractSettings, Extractor
    from linkedout.extract.tiny_model import build_random_backbone

    t0 = time.perf_counter()
    dtype = torch.bfloat16
    backbone = build_random_backbone(sz.backbone, dev, dtype)
    _sync(dev)
    log(f"extract: random {sz.backbone} LLaVA-OneVision built on {dev} in {time.perf_counter() - t0:.1f} s "
        f"({sum(p.numel() for p in backbone.model.parameters()) / 1e9:.2f} B params, bf16, sdpa)")
    prompts: tuple[str, ...] = default("extract", "prompts")  # the default prompt bank (schemas/config/extract.schema.json)
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
    finally:
        del backbone
        gc.collect()
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    ok = [r for r in rows if "error" not in r]
    return {
        "extract_rows": rows,
        "extract_taps": taps,
        "extract_s_per_video": min((r["s_per_video"] for r in ok), default=None),
        "hook_overhead": max((r["hook_overhead"] for r in ok), default=None),
    }


class ResidentContent:
    """The store's rows held on the device: gather = index_select (the ``resident`` baseline)."""

    def __init__(self, store: Any, dev: torch.device) -> None:
        from linkedout.model.features import ItemFeatures

        self._features = ItemFeatures
        every = range(len(store.items))
        self.old = store.get("old_merged", every).to(dev)  # [K, P, taps, M, d]
        self.size = store.get("old_merged_size", every).to(dev)
        self.new = store.get("new", every).to(dev)  # [K, P, taps, N_new, d]

    def gather(self, idx: torch.Tensor) -> Any:
        i = idx.to(self.old.device)
        new = self.new.index_select(0, i)
        return self._features(present=torch.ones(i.shape[0], dtype=torch.bool, device=i.device), old_merged=self.old.index_select(0, i),
                              old_size=self.size.index_select(0, i).float(), new=new, new_valid=(new != 0).any(dim=-1))


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


def bench_training(dev: torch.device, sz: Sizes, work: Path, log: Log) -> dict[str, Any]:
    from linkedout.bench.train import PRESETS
    from linkedout.model.config import RecommenderConfig
    from linkedout.model.losses import LossWeights
    from linkedout.store.token_store import TokenStore
    from linkedout.train.batching import make_batch
    from linkedout.train.data import Catalogue, ContentSource
    from linkedout.train.loop import DistContext, StepContext, build_model, build_optimizer, train_step
    from linkedout.train.spec import TrainConfig

    store_dir = work / "store"
    _write_store(store_dir, sz, log)
    store = TokenStore.open(store_dir)
    p = PRESETS[sz.train_preset]
    cfg, tcfg = RecommenderConfig(), TrainConfig()
    k = sz.store_items
    catalogue = Catalogue(items=list(store.items), train_count=np.ones(k, dtype=np.int64), index={it: i for i, it in enumerate(store.items)})
    rng = np.random.default_rng(0)
    batches = [make_batch([rng.choice(k, size=int(n), replace=False) for n in rng.integers(3, 12, size=sz.train_batch)], cfg.ranker.max_history)
               for _ in range(sz.train_steps + 1)]
    sources = {"resident": ResidentContent(store, dev), "from_store": ContentSource(store, catalogue, cfg)}
    out: dict[str, Any] = {"train_items_per_step": statistics.mean(int(b.candidates.shape[0]) for b in batches),
                           "train_batch_sequences": sz.train_batch, "train_precision": "bf16"}
    shapes = {"n_items": k, "d_model": p.d_model, "n_taps": p.taps, "n_prompts": p.prompts, "taps": []}
    for name, content in sources.items():
        model = build_model(cfg, shapes, 0).to(dev)
        sc = StepContext(model=model, wrapped=model, optimizer=build_optimizer(model, tcfg), scaler=torch.amp.GradScaler("cuda", enabled=False),
                         content=content, dist=DistContext(), device=dev, precision="bf16",  # type: ignore[arg-type]
                         log_popularity=torch.zeros(k, device=dev), tcfg=tcfg,
                         loss_weights=LossWeights(tcfg.loss.align_weight, tcfg.loss.uniformity_gamma, cfg.moe.load_balance_weight))
        times = []
        for i, b in enumerate(batches):
            _sync(dev)
            t0 = time.perf_counter()
            train_step(sc, b)
            _sync(dev)
            if i > 0:  # the first step warms up allocator and kernels
                times.append(time.perf_counter() - t0)
        out[f"train_step_s_{name}"] = statistics.median(times)
        log(f"train: {name}: {out[f'train_step_s_{name}']:.3f} s/step ({out['train_items_per_step']:.0f} items/step)")
        del model, sc
    del sources
    gc.collect()
    if dev.type == "cuda":
        torch.cuda.empty_cache()
    out["train_store_over_resident"] = out["train_step_s_from_store"] / out["train_step_s_resident"]
    out["io_fraction"] = max(0.0, 1 - out["train_step_s_resident"] / out["train_step_s_from_store"])
    out["train_store_gib"] = sum(f.stat().st_size for f in store_dir.glob("shard-*.arrow")) / 2**30
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


def bench_gpu(tiny: bool, device: str | None = None, log: Log = lambda m: None) -> dict[str, Any]:
    dev = torch.device(device or ("cpu" if tiny else "cuda"))
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench gpu: no CUDA device visible to torch (use --tiny for the CPU smoke run)")
    sz = SIZES["tiny" if tiny else "gpu"]
    t0 = time.perf_counter()
    result: dict[str, Any] = {
        "bench": "gpu", "tiny": tiny, "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "torch": torch.__version__, "threads": torch.get_num_threads(), "goals": GOALS,
    }
    work = Path(tempfile.mkdtemp(prefix="lo-bench-gpu-"))
    try:
        result.update(bench_extraction(dev, sz, log))
        result.update(bench_training(dev, sz, work, log))
        result.update(bench_topk(dev, sz, log))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["peak_gpu_mb"] = torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else None
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
    ns = p.parse_args(argv)
    t0 = time.perf_counter()

    def log(m: str) -> None:
        sys.stderr.write(f"[bench gpu {time.perf_counter() - t0:6.1f}s] {m}\n")
        sys.stderr.flush()

    result = bench_gpu(ns.tiny, ns.device, log)
    text = json.dumps(result, indent=2) + "\n"
    if ns.out:
        Path(ns.out).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
