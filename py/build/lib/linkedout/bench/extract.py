"""``lo-exp bench extract``: what the hooks cost, and extraction throughput (paper Table 5: "offline
extraction 5.02 s per video in batches of 100").

Same model, same inputs, same ``generate`` call: once plain, once with the forward hooks on the
taps. ``hook_overhead = hooks time / plain time - 1`` (goal <= 0.05): the median, over every
(repeat, batch), of the ratio of two back-to-back calls on the same batch — alternating which goes
first — so bursts of load from other processes on a shared machine hit both sides alike. The ToMe/mean/last reductions are timed separately (``reduce_s``): they are extraction work, not hook cost.

CPU: the tiny random model (``tiny_model.py``). GPU (``gpu=True``): a LLaVA-OneVision with the 7B's
configuration (SigLIP-so400m 384px + Qwen2-7B, 8.0B parameters) and random bf16 weights, seconds per
video for batch sizes 1..32 at 8 and 32 frames. Frames are deterministic random pixels handed to the
processor (decoding is not what is measured).
"""

from __future__ import annotations

import gc
import resource
import statistics
import sys
import tempfile
import time
from typing import Any, Callable

import numpy as np
import torch

from linkedout.protocol.op import FrameValue, OpContext, OpError, OpResult
from linkedout.extract.backbone import Backbone, load_backbone
from linkedout.extract.extractor import ExtractSettings, Extractor
from linkedout.extract.tiny_model import build_random_7b, build_tiny_model

ProgressFn = Callable[[int, int, str], None]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / (1024 * 1024)


def _frames(n: int, t: int, size: int, seed: int) -> list[np.ndarray]:
    rng = np.random.Generator(np.random.PCG64(seed))
    return [rng.integers(0, 256, (t, size, size, 3), dtype=np.uint8) for _ in range(n)]


def bench_config(
    backbone: Backbone,
    batch_size: int,
    frames: int,
    items: int,
    repeats: int,
    settings: ExtractSettings,
    frame_size: int,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Time plain vs hooked generate (and the reductions) over ``items`` videos in batches."""
    ex = Extractor(backbone, settings)
    dev = backbone.device
    videos = _frames(items, frames, frame_size, seed=batch_size * 1000 + frames)
    texts = [f"Title: clip {i}\nDescribe this video." for i in range(items)]
    batches = [ex.prepare(videos[i : i + batch_size], texts[i : i + batch_size]) for i in range(0, items, batch_size)]
    # warm-up both paths (allocator, kernels, lazy inits)
    ex.generate_plain(batches[0])
    ex.capture(batches[0])

    plain_s: list[float] = []  # per repeat: all batches
    hooks_s: list[float] = []
    reduce_s: list[float] = []
    pair_ratios: list[float] = []  # per (repeat, batch): hooks / plain of back-to-back calls
    captured_bytes = 0
    peak_plain = peak_hooks = 0

    def timed_plain(b: dict[str, torch.Tensor]) -> float:
        _sync(dev)
        t0 = time.perf_counter()
        ex.generate_plain(b)
        _sync(dev)
        return time.perf_counter() - t0

    def timed_hooks(b: dict[str, torch.Tensor]) -> tuple[float, float, int]:
        _sync(dev)
        t0 = time.perf_counter()
        cap, _ = ex.capture(b)
        _sync(dev)
        t1 = time.perf_counter()
        ex.reduce(cap, b["attention_mask"])
        _sync(dev)
        held = sum(x.numel() * x.element_size() for x in [*cap.prefill, *cap.decode])
        return t1 - t0, time.perf_counter() - t1, held

    for rep in range(repeats):
        tp = th = tr = 0.0
        for j, b in enumerate(batches):
            # the two calls of a pair run back to back, alternating which goes first, so a burst of
            # load from other processes hits both sides alike
            if dev.type == "cuda":
                torch.cuda.reset_peak_memory_stats(dev)
            if (rep + j) % 2 == 0:
                p = timed_plain(b)
                peak_plain = max(peak_plain, torch.cuda.max_memory_allocated(dev)) if dev.type == "cuda" else 0
                if dev.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(dev)
                h, r, held = timed_hooks(b)
                peak_hooks = max(peak_hooks, torch.cuda.max_memory_allocated(dev)) if dev.type == "cuda" else 0
            else:
                h, r, held = timed_hooks(b)
                peak_hooks = max(peak_hooks, torch.cuda.max_memory_allocated(dev)) if dev.type == "cuda" else 0
                if dev.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(dev)
                p = timed_plain(b)
                peak_plain = max(peak_plain, torch.cuda.max_memory_allocated(dev)) if dev.type == "cuda" else 0
            tp, th, tr = tp + p, th + h, tr + r
            pair_ratios.append(h / p)
            captured_bytes = max(captured_bytes, held)
        plain_s.append(tp)
        hooks_s.append(th)
        reduce_s.append(tr)
        if progress:
            progress(rep + 1, repeats, f"batch {batch_size}, {frames} frames: repeat {rep + 1}/{repeats}")
    plain, hooks, red = statistics.median(plain_s), statistics.median(hooks_s), statistics.median(reduce_s)
    out: dict[str, Any] = {
        "batch_size": batch_size,
        "frames": frames,
        "items": items,
        "repeats": repeats,
        "prompt_tokens": int(batches[0]["input_ids"].shape[1]),
        "plain_s": plain,
        "hooks_s": hooks,
        "reduce_s": red,
        # median of per-batch paired ratios: robust to load bursts from other processes
        "hook_overhead": statistics.median(pair_ratios) - 1,
        "pairs": len(pair_ratios),
        "hook_overhead_min": min(hooks_s) / min(plain_s) - 1,
        "items_per_s_plain": items / plain,
        "items_per_s_hooks": items / hooks,
        "items_per_s_extract": items / (hooks + red),
        "s_per_video": (hooks + red) / items,
        "captured_mb_per_batch": captured_bytes / 2**20,
        "plain_runs_s": plain_s,
        "hooks_runs_s": hooks_s,
    }
    if dev.type == "cuda":
        out["peak_gpu_mb_plain"] = peak_plain / 2**20
        out["peak_gpu_mb_hooks"] = peak_hooks / 2**20
    out["peak_rss_mb"] = _peak_rss_mb()
    return out


def bench_extract(
    gpu: bool = False,
    device: str | torch.device = "cpu",
    model_path: str | None = None,
    batch_sizes: list[int] | None = None,
    frames: list[int] | None = None,
    items: int | None = None,
    repeats: int = 5,
    max_new_tokens: int = 8,
    tap_every: int = 4,
    merged_tokens: int = 32,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Run the benchmark grid; returns JSON with per-config rows and the headline ``hook_overhead``."""
    dev = torch.device(device)
    settings = ExtractSettings(
        frames=1, prompts=("Describe this video.",), tap_every=tap_every, merged_tokens=merged_tokens, max_new_tokens=max_new_tokens, batch_size=1
    )
    tmp: tempfile.TemporaryDirectory[str] | None = None
    if gpu:
        if dev.type != "cuda":
            raise ValueError("bench extract --gpu needs a CUDA device (the worker's device is cpu)")
        backbone = build_random_7b(device=dev, dtype=torch.bfloat16)
        label = "LLaVA-OneVision 7B configuration, random bf16 weights"
        batch_sizes = batch_sizes or [1, 2, 4, 8, 16, 32]
        frames = frames or [8, 32]
        frame_size = 384
    else:
        if model_path is None:
            tmp = tempfile.TemporaryDirectory(prefix="lo-bench-tiny-")
            build_tiny_model(tmp.name)
            model_path = tmp.name
        backbone = load_backbone(model_path, dtype="float32", device=dev)
        label = f"{model_path if tmp is None else 'tiny random LLaVA-OneVision'} ({sum(p.numel() for p in backbone.model.parameters()) / 1e6:.2f} M params, fp32)"
        batch_sizes = batch_sizes or [8]
        frames = frames or [8]
        frame_size = int(backbone.processor.video_processor.size["height"])
    rows = []
    try:
        for t in frames:
            for b in batch_sizes:
                n = items or max(b * 2, 16 if gpu else 64)
                try:
                    with torch.inference_mode():
                        rows.append(bench_config(backbone, b, t, n, repeats, ExtractSettings(**{**settings.__dict__, "frames": t, "batch_size": b}), frame_size, progress))
                except torch.OutOfMemoryError:
                    rows.append({"batch_size": b, "frames": t, "items": n, "error": "out of memory"})
                    gc.collect()
                    torch.cuda.empty_cache()
    finally:
        if tmp is not None:
            tmp.cleanup()
    ok = [r for r in rows if "error" not in r]
    return {
        "bench": "extract",
        "model": label,
        "device": str(dev) if dev.type == "cpu" else torch.cuda.get_device_name(dev),
        "threads": torch.get_num_threads(),
        "dtype": str(backbone.dtype).replace("torch.", ""),
        "taps": Extractor(backbone, settings).taps,
        "max_new_tokens": max_new_tokens,
        "merged_tokens": merged_tokens,
        "rows": rows,
        "hook_overhead": max((r["hook_overhead"] for r in ok), default=None),
        "items_per_s": max((r["items_per_s_extract"] for r in ok), default=None),
        "peak_rss_mb": _peak_rss_mb(),
        "torch": torch.__version__,
    }


def bench_extract_op(args: dict[str, Any], frames: dict[str, FrameValue], ctx: OpContext) -> OpResult:
    """``lo-exp bench extract``: hooks vs plain generate ."""
    try:
        result = bench_extract(
            gpu=bool(args.get("gpu", False)),
            device=ctx.device,
            model_path=args.get("model_path") or None,
            batch_sizes=args.get("batch_sizes") or None,
            frames=args.get("frames") or None,
            items=args.get("items") or None,
            repeats=int(args.get("repeats", 5)),
            max_new_tokens=int(args.get("max_new_tokens", 8)),
            progress=lambda done, total, msg: ctx.progress(done, total, unit="repeats", message=msg),
        )
    except ValueError as e:
        raise OpError("ArgsInvalid", str(e)) from e
    return OpResult(result=result)
