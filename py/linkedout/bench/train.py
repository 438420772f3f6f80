"""`lo-exp bench train`: training throughput (user sequences per second) of the default model.

The model is the default `recommender` config (Layer Token Compressor + Cross-Layer MoE + SASRec), the
optimiser the default `train` config (AdamW groups, clip 5), one real `train_step` per measured step.
Batches are real next-item batches (`make_batch`) over a MicroLens-100K-sized catalogue (19,738 items)
with sequence lengths drawn like MicroLens's (3..11 training items, mean ~7), so the number of distinct
items per batch — what the item tower must encode — is realistic (~1.8k for 256 sequences).

Content features are random tensors of the TokenStore's shapes, preallocated once: the bench measures the
model step (forward, loss, backward, optimizer), not reading the store (that is a memcpy out of the page
cache, see docs/model.md). Shapes of the two presets:

    tiny  the quick-start backbone: d=64, 2 taps, M=32, N_new=7, P=2 prompts
    7b    LLaVA-OneVision-7B: d=3584, 7 taps (an upper bound: the paper's model fuses 6, L0..L20), M=32, N_new=7, P=2 prompts
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from linkedout.protocol.op import FrameValue, OpContext, OpError, OpResult
from linkedout.model.config import ConfigError, RecommenderConfig
from linkedout.model.features import ItemFeatures
from linkedout.model.losses import LossWeights

from linkedout.train.batching import make_batch
from linkedout.train.loop import DistContext, StepContext, build_model, build_optimizer, resolve_precision, train_step
from linkedout.train.spec import TrainConfig

CATALOGUE = 19_738  # MicroLens-100K items


@dataclass(frozen=True)
class Preset:
    d_model: int
    taps: int
    merged: int
    new: int
    prompts: int


PRESETS: dict[str, Preset] = {
    "tiny": Preset(d_model=64, taps=2, merged=32, new=7, prompts=2),
    "7b": Preset(d_model=3584, taps=7, merged=32, new=7, prompts=2),
}


class _PreallocatedContent:
    """Feature rows for any item, sliced out of one random buffer (the bench times the model, not the store)."""

    def __init__(self, preset: Preset, max_items: int, dtype: torch.dtype, seed: int) -> None:
        gen = torch.Generator().manual_seed(seed)
        p, t, m, n, d = preset.prompts, preset.taps, preset.merged, preset.new, preset.d_model
        self.old = torch.randn(max_items, p, t, m, d, generator=gen).to(dtype)
        self.new = torch.randn(max_items, p, t, n, d, generator=gen).to(dtype)
        self.size = torch.randint(1, 8, (max_items, p, t, m), generator=gen).float()

    def gather(self, idx: torch.Tensor) -> ItemFeatures:
        c = idx.shape[0]
        return ItemFeatures(present=torch.ones(c, dtype=torch.bool, device=self.new.device), old_merged=self.old[:c], old_size=self.size[:c],
                            new=self.new[:c], new_valid=torch.ones(self.new[:c].shape[:4], dtype=torch.bool, device=self.new.device))


def _sequences(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    lengths = rng.integers(3, 12, size=n)
    return [rng.choice(CATALOGUE, size=int(k), replace=False) for k in lengths]


def bench_train(device: torch.device, preset: str = "tiny", batch_size: int | None = None, steps: int = 5, warmup: int = 1,
                precision: str = "auto", seed: int = 0, progress: Callable[[int, int, str], None] | None = None) -> dict[str, Any]:
    if preset not in PRESETS:
        raise ValueError(f"preset: {preset!r} is not one of {', '.join(PRESETS)}")
    shape = PRESETS[preset]
    cfg = RecommenderConfig()
    tcfg = TrainConfig()
    batch = batch_size or tcfg.batch_size
    prec = resolve_precision(precision, device)
    rng = np.random.default_rng(seed)
    batches = [make_batch(_sequences(batch, rng), cfg.ranker.max_history) for _ in range(warmup + steps)]
    max_items = max(int(b.candidates.shape[0]) for b in batches)
    content = _PreallocatedContent(shape, max_items, torch.bfloat16, seed)
    if device.type == "cuda":
        content.old, content.new, content.size = content.old.to(device), content.new.to(device), content.size.to(device)
    shapes = {"n_items": CATALOGUE, "d_model": shape.d_model, "n_taps": shape.taps, "n_prompts": shape.prompts, "taps": []}
    model = build_model(cfg, shapes, seed).to(device)
    optimizer = build_optimizer(model, tcfg, device)
    sc = StepContext(model=model, wrapped=model, optimizer=optimizer, scaler=torch.amp.GradScaler("cuda", enabled=prec == "fp16"),
                     content=content, dist=DistContext(), device=device, precision=prec,  # type: ignore[arg-type]
                     log_popularity=torch.zeros(CATALOGUE, device=device), tcfg=tcfg,
                     loss_weights=LossWeights(tcfg.loss.align_weight, tcfg.loss.uniformity_gamma, cfg.moe.load_balance_weight))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for i, b in enumerate(batches):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        train_step(sc, b)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
        if progress is not None:
            progress(i + 1, len(batches), f"step {i + 1}/{len(batches)}")
    step_s = statistics.median(times)
    items = statistics.mean(int(b.candidates.shape[0]) for b in batches[warmup:])
    return {
        "what": "train", "preset": preset, "device": str(device), "precision": prec, "threads": torch.get_num_threads(),
        "batch_sequences": batch, "items_per_batch": items, "steps": steps, "step_s": step_s,
        "sequences_per_s": batch / step_s, "items_per_s": items / step_s,
        "parameters": sum(p.numel() for p in model.parameters()),
        "d_model": shape.d_model, "taps": shape.taps, "merged_tokens": shape.merged, "new_tokens": shape.new, "prompts": shape.prompts,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform != "darwin" else 1024 * 1024),
        "peak_gpu_mb": torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None,
    }


def bench_train_op(args: dict[str, Any], frames: dict[str, FrameValue], ctx: OpContext) -> OpResult:
    """`lo-exp bench train`: sequences/s of the default model, one row per precision."""
    precisions = list(args.get("precisions") or (["fp32", "bf16"] if ctx.device.type == "cuda" else ["fp32"]))
    rows = []
    for i, precision in enumerate(precisions):
        try:
            rows.append(bench_train(ctx.device, preset=str(args.get("preset", "tiny")), batch_size=int(args.get("batch_size", 0)) or None,
                                    steps=int(args.get("steps", 5)), warmup=int(args.get("warmup", 1)), precision=precision,
                                    progress=lambda done, total, msg, p=precision: ctx.progress(done, total, "steps", f"{p}: {msg}")))
        except ConfigError as err:
            raise OpError("ArgsInvalid", str(err)) from err
    return OpResult(result={"rows": rows})
