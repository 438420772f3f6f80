"""``lo-exp bench extract``: what the hooks cost, what extraction costs end to end, and what a second
prompt costs (paper Table 5: "offline extraction 5.02 s per video in batches of 100").

1. Hooks. Same model, same inputs, same ``generate`` call: once plain, once with the forward hooks on
   the taps. ``hook_overhead = hooks time / plain time - 1`` (goal <= 0.05): the median, over every
   (repeat, batch), of the ratio of two back-to-back calls on the same batch — alternating which goes
   first — so bursts of load from other processes on a shared machine hit both sides alike. The
   ToMe/mean/last reductions are timed separately (``reduce_s``): they are extraction work, not hook cost.
   Frames are deterministic random pixels handed to the processor (decoding is not what is measured).
2. End to end. ``s_per_video_end_to_end``: ``extract_shard`` over rendered mp4 files into a fresh
   TokenStore — decode, preprocess, prefix + generate, reduce, store write, all inside the clock —
   beside ``s_per_video_generate``: the model's calls alone (prefix forward + hooked ``generate``) on
   the same batches, prepared beforehand. 2 prompts.
3. ``prompts_2_vs_1``: end-to-end wall time of extracting the same videos with 2 prompts ÷ with 1, in
   the same run, alternating which goes first; beside it the same ratio for the row-by-row reference
   path (≈ 2 by construction). Measured on a backbone whose language model dominates a row's time, as
   the 7B's does on a GPU: on a CPU ``lm-small`` (``tiny_model.py``: Qwen2-0.5B's proportions, 4 layers
   of d = 512, 196 tokens per frame, 12 frames), on a GPU the 7B configuration (8 frames); the JSON gives the shape
   and ``prefill_share`` = (vision + prefill of one row) ÷ (the whole row: preprocess, generate, reduce),
   paired per video.

CPU: the tiny random model (``tiny_model.py``) for 1 and 2. GPU (``gpu=True``): a LLaVA-OneVision with
the 7B's configuration (SigLIP-so400m 384px + Qwen2-7B, 8.0B parameters) and random bf16 weights,
seconds per video for batch sizes 1..32 at 8 and 32 frames.
"""

from __future__ import annotations

import gc
import math
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from linkedout.config import default
from linkedout.protocol.op import FrameValue, OpContext, OpError, OpResult
from linkedout.extract.backbone import Backbone, load_backbone
from linkedout.data.render import RenderSettings, VideoSpec, render_videos
from linkedout.extract.extractor import ExtractSettings, Extractor, extract_shard
from linkedout.extract.frames import sample_frames
from linkedout.extract.prompts import user_text
from linkedout.extract.tiny_model import build_random_7b, build_random_backbone, build_tiny_model

# the default prompt bank (schemas/config/extract.schema.json); prompts_2_vs_1 uses its first two
BENCH_PROMPTS: tuple[str, ...] = default("extract", "prompts")

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


def render_catalogue(out: Path, videos: int, side: int) -> list[dict[str, str]]:
    """``videos`` synthetic 4 s clips (8 fps, side x side, mpeg4) with titles: what ``extract_shard`` reads."""
    shapes, motions = ("circle", "square", "triangle", "ring", "cross", "diamond"), ("left_right", "up_down", "orbit", "diagonal", "zoom", "spin")
    specs = [VideoSpec(f"b{i:04d}", (20 + 37 * i % 200, 200 - 13 * i % 150, 90), (250, 250 - 40 * i % 200, 40 * i % 250), shapes[i % 6],  # type: ignore[arg-type]
                       motions[i % 6], 0.15 + 0.01 * (i % 10), 10.0 * i, 1.0, 0.1 * (i % 10), 4.0, 4.0, i) for i in range(videos)]
    render_videos(specs, out / "videos", out / "covers", RenderSettings(width=side, height=side))
    return [{"item": sp.item, "video": str(out / "videos" / f"{sp.item}.mp4"), "title": f"clip {i}: a {sp.shape} moving {sp.motion.replace('_', ' ')}" + " again" * (i % 4)}
            for i, sp in enumerate(specs)]


def time_extract_shard(backbone: Backbone, settings: ExtractSettings, items: list[dict[str, str]], store: Path,
                       one_pass: bool = True) -> tuple[float, float]:
    """(wall, CPU) seconds of ``extract_shard`` (decode, preprocess, model, reduce, store write) into a
    fresh store. CPU = this process's time over all its threads: on a shared machine, load from other
    processes stretches the wall time but not it."""
    shutil.rmtree(store, ignore_errors=True)
    ex = Extractor(backbone, settings, one_pass=one_pass)
    _sync(backbone.device)
    t0, c0 = time.perf_counter(), time.process_time()
    extract_shard(ex, str(store), key="bench", dataset="bench", items=items, shard=0, num_shards=1)
    _sync(backbone.device)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    shutil.rmtree(store, ignore_errors=True)
    return wall, cpu


def bench_end_to_end(backbone: Backbone, settings: ExtractSettings, items: list[dict[str, str]], work: Path, repeats: int,
                     progress: ProgressFn | None = None) -> dict[str, Any]:
    """``s_per_video_end_to_end`` (``extract_shard``) beside ``s_per_video_generate`` (prefix forward +
    hooked generate on the same batches, prepared beforehand), medians over ``repeats``."""
    ex = Extractor(backbone, settings)
    dev, n = backbone.device, len(items)
    per_batch = max(1, settings.batch_size // len(settings.prompts))
    frames = [sample_frames(it["video"], settings.frames) for it in items]
    texts = [[user_text(it, p, settings.side_channels, settings.side_channel_max_chars) for p in settings.prompts] for it in items]
    batches = [ex.prepare_videos(frames[a : a + per_batch], texts[a : a + per_batch]).to(dev, backbone.dtype) for a in range(0, n, per_batch)]
    with torch.inference_mode():
        ex.capture_videos(batches[0])  # warm-up
    generate_s, end_to_end_s = [], []
    for rep in range(repeats):
        t = 0.0
        for b in batches:
            _sync(dev)
            t0 = time.perf_counter()
            ex.capture_videos(b)
            _sync(dev)
            t += time.perf_counter() - t0
        generate_s.append(t)
        end_to_end_s.append(time_extract_shard(backbone, settings, items, work / "e2e-store")[0])
        if progress:
            progress(rep + 1, repeats, f"end to end: repeat {rep + 1}/{repeats}: {end_to_end_s[-1] / n:.3f} s/video, generate {t / n:.3f} s/video")
    e2e, gen = statistics.median(end_to_end_s), statistics.median(generate_s)
    return {
        "videos": n, "prompts": len(settings.prompts), "frames": settings.frames, "batch_size": settings.batch_size, "repeats": repeats,
        "s_per_video_end_to_end": e2e / n, "s_per_video_generate": gen / n, "generate_share_of_end_to_end": gen / e2e,
        "end_to_end_runs_s": end_to_end_s, "generate_runs_s": generate_s,
    }


def _shape(backbone: Backbone, name: str, frames: int) -> dict[str, Any]:
    t, v = backbone.model.config.text_config, backbone.model.config.vision_config
    patches = (int(v.image_size) // int(v.patch_size)) ** 2
    return {
        "name": name, "text_layers": int(t.num_hidden_layers), "d_model": int(t.hidden_size), "heads": int(t.num_attention_heads),
        "kv_heads": int(t.num_key_value_heads), "mlp": int(t.intermediate_size), "vision_layers": int(v.num_hidden_layers),
        "vision_d": int(v.hidden_size), "frame_px": int(v.image_size), "tokens_per_frame": math.ceil(math.isqrt(patches) / 2) ** 2, "frames": frames,
        "params_m": sum(p.numel() for p in backbone.model.parameters()) / 1e6, "dtype": str(backbone.dtype).replace("torch.", ""),
    }


def bench_prompts_ratio(backbone: Backbone, shape: str, items: list[dict[str, str]], work: Path, frames: int, videos_per_batch: int,
                        repeats: int, max_new_tokens: int, tap_every: int, merged_tokens: int, progress: ProgressFn | None = None) -> dict[str, Any]:
    """``prompts_2_vs_1``: end-to-end seconds with 2 prompts ÷ 1 prompt on the same videos (one pass per
    video), and the same for the row-by-row reference path; ``prefill_share`` says how much of a row
    the vision + prefill pass is. One-prompt runs, 2-prompt runs and row-by-row runs alternate."""
    def settings(prompts: int) -> ExtractSettings:
        return ExtractSettings(frames=frames, prompts=BENCH_PROMPTS[:prompts], tap_every=tap_every, merged_tokens=merged_tokens,
                               max_new_tokens=max_new_tokens, batch_size=prompts * videos_per_batch)

    one, two = settings(1), settings(2)
    dev, n = backbone.device, len(items)
    time_extract_shard(backbone, two, items[:videos_per_batch], work / "warm")  # warm-up
    runs: dict[str, list[float]] = {"1": [], "2": [], "2_rows": []}
    cpu: dict[str, list[float]] = {"1": [], "2": [], "2_rows": []}
    order = [("1", one, True), ("2", two, True), ("2_rows", two, False)]
    for rep in range(repeats):
        for key, st, one_pass in order if rep % 2 == 0 else order[::-1]:  # alternate, so load bursts hit every side
            wall, cpu_s = time_extract_shard(backbone, st, items, work / "ratio-store", one_pass=one_pass)
            runs[key].append(wall)
            cpu[key].append(cpu_s)
        if progress:
            progress(rep + 1, repeats, f"prompts 2 vs 1 ({shape}): repeat {rep + 1}/{repeats}: "
                                       f"{runs['2'][-1] / runs['1'][-1]:.2f} one pass, {runs['2_rows'][-1] / runs['1'][-1]:.2f} row by row")
    # prefill share: per video, a 1-prompt row's vision + prefill alone (generate one token) vs the whole
    # row (preprocess, generate G tokens with hooks, reduce), back to back, alternating which goes first
    ex = Extractor(backbone, one)
    shares, prefill = [], []

    def timed(fn: Callable[[], Any]) -> float:
        _sync(dev)
        t0 = time.perf_counter()
        fn()
        _sync(dev)
        return time.perf_counter() - t0

    with torch.inference_mode():
        for i, it in enumerate(items):
            video, text = sample_frames(it["video"], frames), user_text(it, one.prompts[0], one.side_channels, one.side_channel_max_chars)
            inputs = ex.prepare([video], [text])
            first_token = lambda: backbone.model.generate(**inputs, max_new_tokens=1, min_new_tokens=1, do_sample=False, num_beams=1,  # noqa: E731
                                                          pad_token_id=backbone.processor.tokenizer.pad_token_id)
            whole_row = lambda: ex.run([video], [text])  # noqa: E731
            if i % 2 == 0:
                p, r = timed(first_token), timed(whole_row)
            else:
                r, p = timed(whole_row), timed(first_token)
            shares.append(p / r)
            prefill.append(p)
    def ratio(times: dict[str, list[float]], key: str) -> float:
        return statistics.median(b / a for a, b in zip(times["1"], times[key]))

    one_s = statistics.median(runs["1"]) / n
    return {
        "prompts_2_vs_1": ratio(runs, "2"),
        "prompts_2_vs_1_row_by_row": ratio(runs, "2_rows"),
        # the same ratios of process CPU time, which other processes' load does not stretch
        "prompts_2_vs_1_cpu": ratio(cpu, "2"),
        "prompts_2_vs_1_row_by_row_cpu": ratio(cpu, "2_rows"),
        "prompts_ratio_shape": _shape(backbone, shape, frames),
        "prompt_tokens": int(inputs["input_ids"].shape[1]),
        "prefill_share": statistics.median(shares),
        "prompts_ratio_videos": n, "prompts_ratio_videos_per_batch": videos_per_batch, "prompts_ratio_repeats": repeats,
        "s_per_video_end_to_end_1_prompt": one_s,
        "s_per_video_end_to_end_2_prompts": statistics.median(runs["2"]) / n,
        "s_per_video_end_to_end_2_prompts_row_by_row": statistics.median(runs["2_rows"]) / n,
        "prefill_s_per_row": statistics.median(prefill),
    }


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
    e2e_videos: int | None = None,
    ratio_videos: int | None = None,
    ratio_repeats: int | None = None,
    ratio_shape: str | None = None,
    ratio_frames: int | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Run the three parts; returns JSON with the hook rows, the end-to-end figures and ``prompts_2_vs_1``."""
    dev = torch.device(device)
    settings = ExtractSettings(
        frames=1, prompts=("Describe this video.",), tap_every=tap_every, merged_tokens=merged_tokens, max_new_tokens=max_new_tokens, batch_size=1
    )
    tmp: tempfile.TemporaryDirectory[str] | None = None
    work = Path(tempfile.mkdtemp(prefix="lo-bench-extract-"))
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
    out: dict[str, Any] = {"bench": "extract", "model": label}
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
        # end to end: rendered files -> TokenStore, 2 prompts, the grid's largest batch (in rows)
        catalogue = render_catalogue(work / "videos", e2e_videos or (32 if gpu else 16), 384 if gpu else 64)
        e2e_settings = ExtractSettings(frames=frames[0], prompts=BENCH_PROMPTS, tap_every=tap_every, merged_tokens=merged_tokens,
                                       max_new_tokens=max_new_tokens, batch_size=max(batch_sizes))
        out["end_to_end"] = bench_end_to_end(backbone, e2e_settings, catalogue, work, max(1, min(repeats, 3)), progress)
        out["taps"] = Extractor(backbone, settings).taps
        out["dtype"] = str(backbone.dtype).replace("torch.", "")
        # prompts 2 vs 1 on a backbone whose language model dominates a row (the 7B itself on a GPU)
        shape = ratio_shape or ("7b" if gpu else "lm-small")
        if shape != "7b" or not gpu:
            del backbone
            gc.collect()
            backbone = build_random_backbone(shape, dev, torch.bfloat16 if gpu else torch.float32)
        ratio_catalogue = render_catalogue(work / "ratio-videos", ratio_videos or (16 if gpu else 3), 384 if gpu else 64)
        out.update(bench_prompts_ratio(backbone, shape, ratio_catalogue, work, ratio_frames or (8 if gpu else 12), 8 if gpu else 1,
                                       ratio_repeats or max(1, min(repeats, 3)),
                                       max_new_tokens, tap_every, merged_tokens, progress))
    finally:
        if tmp is not None:
            tmp.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    ok = [r for r in rows if "error" not in r]
    e2e = out["end_to_end"]
    return {
        **out,
        "device": str(dev) if dev.type == "cpu" else torch.cuda.get_device_name(dev),
        "threads": torch.get_num_threads(),
        "max_new_tokens": max_new_tokens,
        "merged_tokens": merged_tokens,
        "rows": rows,
        "hook_overhead": max((r["hook_overhead"] for r in ok), default=None),
        "items_per_s": max((r["items_per_s_extract"] for r in ok), default=None),
        "s_per_video_end_to_end": e2e["s_per_video_end_to_end"],
        "s_per_video_generate": e2e["s_per_video_generate"],
        "load_average": list(os.getloadavg()),
        "peak_rss_mb": _peak_rss_mb(),
        "torch": torch.__version__,
    }


def bench_extract_op(args: dict[str, Any], frames: dict[str, FrameValue], ctx: OpContext) -> OpResult:
    """``lo-exp bench extract``: hooks vs plain generate, end to end, prompts 2 vs 1."""
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
            e2e_videos=args.get("e2e_videos") or None,
            ratio_videos=args.get("ratio_videos") or None,
            ratio_repeats=args.get("ratio_repeats") or None,
            ratio_shape=args.get("ratio_shape") or None,
            ratio_frames=args.get("ratio_frames") or None,
            progress=lambda done, total, msg: ctx.progress(done, total, unit="repeats", message=msg),
        )
    except ValueError as e:
        raise OpError("ArgsInvalid", str(e)) from e
    return OpResult(result=result)
