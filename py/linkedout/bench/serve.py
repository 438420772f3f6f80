"""Paper Table 5, measured: online cost of four ways to rank a catalogue for one user (history of 10).

    (a) direct VLLM ranking  the VLLM itself scores every candidate: one forward per candidate over the
                             user's 10 history videos + the candidate video + "Would the user watch
                             it? Yes/No", score = logit(Yes) - logit(No). Timed for C candidates (a
                             batch), extrapolated linearly to the catalogue: (history-independent
                             cost per candidate) x N. Tiny random LLaVA-OneVision on CPU.
    (b) paper online path    stored per-layer vectors ẽ(l) [N, T, d_c] -> layer experts + gate for
                             every item (MoE fusion per query, §3.4) -> user tower -> scores -> top-K
    (c) ours                 precomputed z_v [N, d_z] -> RankingService.recommend: id lookup, user
                             tower over the 10 history vectors, one matmul, masked exact top-K, answer
                             (the same code the `recommend` op runs)
    (d) the limit            bare ``topk(u @ Z^T)`` of the same shapes (no tower, no lookups)
    (f) the floor of (c)     the same queries' work with nothing around it: bare user tower over their
                             history vectors (gathered beforehand) + ``u @ Z^T`` + ``torch.topk``

(c) and (f) run the tower the serving worker runs (``serve.tower``, default ``frozen``: a frozen
TorchScript graph of the module, checked bitwise at load; linkedout.serve.tower). Beside them, the tower
alone is timed both ways in one loop — eager module, then frozen graph, each followed by the query's
matmul + top-K as in serving, so both see the caches a real query leaves — for the mechanism's ratio.

Shapes default to the paper's setting: 6 tapped layers (LLaVA-OneVision-7B's L0, L4, ..., L20, its Fig. 4/5),
d_c = 256, d_z = 128, a 2-layer SASRec user tower (recommender defaults). Weights are random: costs do
not depend on their values. Everything runs in one process on torch's CPU threads as set by the caller.
"""

from __future__ import annotations

import gc
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from linkedout.model.config import RecommenderConfig
from linkedout.model.recommender import LinkedOutRecommender
from linkedout.store.embedding_store import DenseCatalogue, EmbeddingStore
from linkedout.serve.service import Query, RankingService
from linkedout.serve.tower import serving_tower
from linkedout.train.checkpoint import save_checkpoint
from linkedout.train.loop import build_model
from linkedout.model.config import to_dict

HISTORY = RecommenderConfig().ranker.max_history  # the default ranker's history length (recommender.ranker.max_history)
PAPER_TAPS = [0, 4, 8, 12, 16, 20]  # LLaVA-OneVision-7B (Qwen2-7B, 28 layers): the paper's Fig. 4/5 layers L0..L20


@dataclass(frozen=True)
class BenchShapes:
    taps: int = 6
    d_c: int = 256
    d_z: int = 128
    k: int = 10
    d_model: int = 64  # width the (unused online) compressors are built for; not on the online path


def bench_model(shapes: BenchShapes, n_items: int, seed: int = 0) -> LinkedOutRecommender:
    cfg = RecommenderConfig(d_c=shapes.d_c, d_z=shapes.d_z)
    model = build_model(cfg, {"n_items": n_items, "d_model": shapes.d_model, "n_taps": shapes.taps, "n_prompts": 2,
                              "taps": PAPER_TAPS[: shapes.taps]}, seed)
    return model.eval()


@torch.inference_mode()
def fuse_all(model: LinkedOutRecommender, e_tilde: torch.Tensor, chunk: int = 50_000) -> tuple[torch.Tensor, torch.Tensor]:
    """Layer experts + gate over every item: ẽ [N, T, d_c] -> z [N, d_z], π [N, T] (chunked for memory)."""
    fuser = model.item_encoder.content["fuser"]  # type: ignore[index]
    zs, gs = [], []
    for s in range(0, e_tilde.shape[0], chunk):
        out = fuser(e_tilde[s : s + chunk])
        zs.append(out.z)
        gs.append(out.gates)
    return torch.cat(zs), torch.cat(gs)


def _percentiles(times: tuple[list[float], list[float]]) -> dict[str, float]:
    """Wall-clock p50/p99/mean, and the p50 of the thread's CPU time (on a shared machine wall time
    includes waiting for a core; CPU time leaves that out, though shared caches still slow it)."""
    wall, cpu = times
    a = np.asarray(wall) * 1e3
    return {"p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99)), "mean_ms": float(a.mean()),
            "p50_cpu_ms": float(np.percentile(np.asarray(cpu) * 1e3, 50)), "n": len(wall)}


def _time_queries(fn: Callable[[int], Any], n: int, warmup: int, budget_s: float) -> tuple[list[float], list[float]]:
    """Run fn(i) `warmup` times untimed, then up to n times (at least 3, stopping after budget_s).
    Returns (wall seconds, thread CPU seconds) per call."""
    for i in range(warmup):
        fn(i)
    wall: list[float] = []
    cpu: list[float] = []
    started = time.perf_counter()
    for i in range(n):
        t, c = time.perf_counter(), time.thread_time()
        fn(i)
        wall.append(time.perf_counter() - t)
        cpu.append(time.thread_time() - c)
        if len(wall) >= 3 and time.perf_counter() - started > budget_s:
            break
    return wall, cpu


def bench_catalogue(n_items: int, *, queries: int, batch: int, shapes: BenchShapes = BenchShapes(), seed: int = 0,
                    paper_budget_s: float = 20.0, progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Rows (b), (c), (d) for one catalogue size: single-query p50/p99 and batched time per batch."""
    gen = torch.Generator().manual_seed(seed)
    model = bench_model(shapes, n_items, seed)
    e_tilde = torch.randn(n_items, shapes.taps, shapes.d_c, generator=gen)  # the paper's stored ẽ(l)
    z, gates = fuse_all(model, e_tilde)  # what our embed stage stores (offline here)
    items = [f"i{i:07d}" for i in range(n_items)]
    tower = serving_tower(model.user_encoder, d_z=shapes.d_z, max_history=HISTORY)  # what `lo-exp serve` runs
    service = RankingService(DenseCatalogue(items=items, z=z, gates=gates, model_version="bench", version=0), tower)
    zt = service.catalogue.zt  # [d_z, N]: the bare limit (d) uses the same layout as ours
    histories = torch.randint(0, n_items, (max(queries, batch) + 8, HISTORY), generator=gen)
    k = shapes.k
    rows: list[dict[str, Any]] = []

    @torch.inference_mode()
    def paper_path(i: int) -> None:
        z_q, _ = fuse_all(model, e_tilde)  # MoE fusion per query over stored ẽ(l)
        hist = histories[i]
        u = model.encode_users(z_q[hist][None], torch.tensor([HISTORY]))
        scores = u @ z_q.T
        scores[0, hist] = float("-inf")
        torch.topk(scores, k)

    def ours(i: int) -> None:
        service.recommend([Query(history=[items[j] for j in histories[i].tolist()], k=k)])

    users = torch.randn(batch, shapes.d_z, generator=gen)
    # the floor of (c): the same work with nothing around it — the bare user tower over the same
    # histories' vectors (gathered beforehand), the matmul and torch.topk
    history_z = z[histories]  # [Q, HISTORY, d_z]
    one_length = torch.tensor([HISTORY])
    batch_lengths = torch.full((batch,), HISTORY)

    @torch.inference_mode()
    def floor(i: int) -> None:
        torch.topk(tower(history_z[i : i + 1], one_length) @ zt, k)

    @torch.inference_mode()
    def bare(i: int) -> None:
        torch.topk(users[i % batch : i % batch + 1] @ zt, k)

    if progress:
        progress(f"{n_items} items: (b) paper path")
    rows.append({"path": "b", "catalogue": n_items, **_percentiles(_time_queries(paper_path, queries, 1, paper_budget_s))})
    if progress:
        progress(f"{n_items} items: (c) ours, (d) bare")
    rows.append({"path": "c", "catalogue": n_items, **_percentiles(_time_queries(ours, queries, 10, 60.0))})
    rows.append({"path": "d", "catalogue": n_items, **_percentiles(_time_queries(bare, queries, 10, 60.0))})
    rows.append({"path": "f", "catalogue": n_items, **_percentiles(_time_queries(floor, queries, 10, 60.0))})
    rows[1].update(tower=tower.mode, **_tower_both_ways(model, tower, history_z, zt, queries, k))

    # batched: `batch` queries at once
    batch_queries = [Query(history=[items[j] for j in histories[i].tolist()], k=k) for i in range(batch)]

    def ours_batched(_: int) -> None:
        service.recommend(batch_queries)

    @torch.inference_mode()
    def bare_batched(_: int) -> None:
        torch.topk(users @ zt, k, dim=1)

    @torch.inference_mode()
    def floor_batched(_: int) -> None:
        torch.topk(tower(history_z[:batch], batch_lengths) @ zt, k, dim=1)

    reps = max(5, min(30, queries // 10))
    for row, fn in ((rows[1], ours_batched), (rows[2], bare_batched), (rows[3], floor_batched)):
        t = _percentiles(_time_queries(fn, reps, 2, 60.0))
        row.update({"batch": batch, "batched_ms": t["p50_ms"], "batched_cpu_ms": t["p50_cpu_ms"],
                    "batched_qps": batch / (t["p50_ms"] / 1e3)})
    del e_tilde, z, zt, gates, service, model, history_z
    gc.collect()
    return rows


@torch.inference_mode()
def _tower_both_ways(model: LinkedOutRecommender, tower: Any, history_z: torch.Tensor, zt: torch.Tensor, queries: int,
                     k: int) -> dict[str, float]:
    """p50 of the user tower alone per single query, eager module and serving tower timed in one loop
    (each followed by the query's matmul + top-K, as in serving): the ratio is the mechanism's."""
    one = torch.tensor([HISTORY])
    eager: list[float] = []
    served: list[float] = []
    for i in range(queries + 10):
        for fn, out in ((model.encode_users, eager), (tower, served)):
            t = time.perf_counter()
            u = fn(history_z[i % history_z.shape[0] : i % history_z.shape[0] + 1], one)
            if i >= 10:
                out.append(time.perf_counter() - t)
            torch.topk(u @ zt, k)
    e, s = float(np.percentile(eager, 50)) * 1e3, float(np.percentile(served, 50)) * 1e3
    return {"tower_eager_p50_ms": e, "tower_p50_ms": s, "tower_vs_eager": s / e}


# ---- (a) direct VLLM ranking -------------------------------------------------------------------------


def bench_direct_vllm(model_dir: str | Path, *, n_items: list[int], candidates: int, queries: int, frames: int = 8,
                      seed: int = 0) -> list[dict[str, Any]]:
    """Rows (a): per query, the VLLM scores `candidates` candidates (one batch), each prompt holding the
    10 history videos and the candidate (their frames concatenated into one clip of 11 x frames), and
    reads logit(Yes) - logit(No) after the question. Per-candidate cost x N = the per-query time."""
    from linkedout.extract.backbone import load_backbone
    from linkedout.extract.prompts import chat_prompt

    backbone = load_backbone(str(model_dir))
    proc = backbone.processor
    size = int(proc.video_processor.size.get("height", 32)) if hasattr(proc, "video_processor") else 32
    rng = np.random.default_rng(seed)
    tok = proc.tokenizer
    yes, no = tok.convert_tokens_to_ids(tok.tokenize("Yes"))[0], tok.convert_tokens_to_ids(tok.tokenize("No"))[0]
    text = chat_prompt(proc, "The user watched the first ten clips of this video, in order. Would they watch the last one? Answer Yes or No.")

    @torch.inference_mode()
    def one_query(_: int) -> None:
        history = rng.integers(0, 255, size=(HISTORY * frames, size, size, 3), dtype=np.uint8)
        videos = [np.concatenate([history, rng.integers(0, 255, size=(frames, size, size, 3), dtype=np.uint8)])
                  for _ in range(candidates)]
        inputs = proc(text=[text] * candidates, videos=videos, return_tensors="pt", padding=True, padding_side="left")
        logits = backbone.model(**inputs).logits[:, -1]
        (logits[:, yes] - logits[:, no]).argsort(descending=True)

    times = _time_queries(one_query, queries, 1, 120.0)
    per_candidate = _percentiles(times)
    rows = []
    for n in n_items:
        scale = n / candidates
        rows.append({"path": "a", "catalogue": n, "p50_ms": per_candidate["p50_ms"] * scale,
                     "p99_ms": per_candidate["p99_ms"] * scale, "mean_ms": per_candidate["mean_ms"] * scale,
                     "p50_cpu_ms": per_candidate["p50_cpu_ms"] * scale,
                     "n": per_candidate["n"], "extrapolated_from_candidates": candidates,
                     "measured_ms_per_candidate": per_candidate["p50_ms"] / candidates})
    return rows


# ---- a servable run for the HTTP load test ------------------------------------------------------------


def write_bench_run(run_dir: str | Path, n_items: int, shapes: BenchShapes = BenchShapes(), seed: int = 0) -> dict[str, Any]:
    """A run directory `lo-exp serve` accepts: best.pt (random weights in the real checkpoint format,
    paper shapes) and its EmbeddingStore of n_items fused vectors. Item ids `i0000000`..."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    model = bench_model(shapes, n_items, seed)
    shapes_json = {"n_items": n_items, "d_model": shapes.d_model, "n_taps": shapes.taps, "n_prompts": 2,
                   "taps": PAPER_TAPS[: shapes.taps]}
    save_checkpoint(run_dir / "best.pt", {"kind": "weights", "epoch": 0, "shapes": shapes_json,
                                          "recommender": to_dict(model.cfg), "train": {}, "model": model.state_dict()})
    from linkedout.serve.model import model_version

    gen = torch.Generator().manual_seed(seed)
    z, gates = fuse_all(model, torch.randn(n_items, shapes.taps, shapes.d_c, generator=gen))
    items = [f"i{i:07d}" for i in range(n_items)]
    version = model_version(run_dir / "best.pt")
    EmbeddingStore.create(run_dir / "embeddings", items, z, gates, version, extra={"layers": PAPER_TAPS[: shapes.taps]})
    return {"run_dir": str(run_dir), "n_items": n_items, "model_version": version,
            "digest": hashlib.sha256(str(shapes).encode()).hexdigest()[:8]}


# ---- the worker op ------------------------------------------------------------------------------------


def bench_serve(args: dict[str, Any], frames: dict[str, Any], ctx: Any) -> Any:
    """Op `bench_serve`: rows (a)-(d) for every catalogue size, and (with `load_run_dir`) a servable run
    of `load_catalogue` items for the HTTP load test that the TypeScript side drives."""
    from linkedout.protocol.op import OpResult

    catalogues = [int(n) for n in args.get("catalogues", [20000, 200000])]
    queries = int(args.get("queries", 300))
    batch = int(args.get("batch", 256))
    shapes = BenchShapes(k=int(args.get("k", 10)))
    rows: list[dict[str, Any]] = []
    steps = len(catalogues) + 2
    done = 0

    def say(msg: str) -> None:
        ctx.progress(done, steps, "steps", msg)

    vllm_queries = int(args.get("vllm_queries", 3))
    if vllm_queries > 0:
        model_dir = args.get("tiny_model_dir")
        if not model_dir:
            from linkedout.extract.tiny_model import build_tiny_model

            model_dir = str(Path(args["work_dir"]) / "tiny-model")
            if not (Path(model_dir) / "config.json").exists():
                build_tiny_model(model_dir, hidden=64, layers=8, image_size=32, seed=0)
        say("(a) direct VLLM ranking")
        rows += bench_direct_vllm(model_dir, n_items=catalogues, candidates=int(args.get("vllm_candidates", 8)),
                                  queries=vllm_queries)
    done += 1
    for n in catalogues:
        rows += bench_catalogue(n, queries=queries, batch=batch, shapes=shapes,
                                paper_budget_s=float(args.get("paper_budget_s", 20.0)), progress=say)
        done += 1
    load_run = None
    if args.get("load_run_dir"):
        say("writing the load-test run")
        load_run = write_bench_run(args["load_run_dir"], int(args.get("load_catalogue", catalogues[0])), shapes)
    done += 1
    say("done")
    return OpResult({"rows": rows, "threads": torch.get_num_threads(), "load_run": load_run,
                     "shapes": {"taps": shapes.taps, "d_c": shapes.d_c, "d_z": shapes.d_z, "k": shapes.k, "history": HISTORY,
                                "user_tower": "sasrec, 2 layers, 2 heads (recommender defaults)"}})
