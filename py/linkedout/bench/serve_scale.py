"""`lo-exp bench serve --items N`: the ANN path against exact search at catalogue scale (docs/serving.md).

Op ``bench_serve_scale`` (one worker, one thread):

1. the catalogue: N items from the bench model's item tower over a topic mixture (``bench.catalogue``),
   written as a servable run (best.pt + EmbeddingStore) under ``work_dir``;
2. the index: ``AnnIndex.build`` timed, saved beside the store (what ``lo-exp serve --build-index`` does);
3. ≥ 1,000 queries from topic histories: exact answers (one batched pass), then each query answered one
   at a time by ``AnnRankingService.recommend`` (the code the `recommend` op runs): recall@10 against
   exact, p50/p99 per query; a sample of single exact queries timed in the same loop, interleaved, so
   both see the same load.

Op ``bench_add_items``: append ``count`` more items of the same catalogue to the store in ``batches``
(each one ``EmbeddingStore.add``), for the during-add load test the TypeScript side runs.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from linkedout.bench.catalogue import topic_catalogue, topic_histories
from linkedout.bench.serve import HISTORY, PAPER_TAPS, BenchShapes, bench_model
from linkedout.model.config import to_dict
from linkedout.protocol.op import OpContext, OpResult
from linkedout.serve.ann import AnnIndex, AnnSettings
from linkedout.serve.ann_service import AnnRankingService, SegmentedCatalogue
from linkedout.serve.service import Answer, Query, RankingService
from linkedout.serve.tower import serving_tower
from linkedout.store.embedding_store import DenseCatalogue, EmbeddingStore
from linkedout.train.checkpoint import save_checkpoint

SEED = 0


def item_id(row: int) -> str:
    return f"i{row:08d}"


def _pct(a: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(a) * 1e3, q))


def bench_serve_scale(args: dict[str, Any], frames: dict[str, Any], ctx: OpContext) -> OpResult:
    n, n_queries, k = int(args["items"]), int(args.get("queries", 1000)), int(args.get("k", 10))
    settings = AnnSettings.from_json(args.get("ann"))
    shapes = BenchShapes(k=k)
    run_dir = Path(args["work_dir"]) / f"run-{n}"
    say = lambda step, msg: ctx.progress(step, 5, "steps", msg)  # noqa: E731

    say(0, f"{n} items from the bench item tower over a topic mixture")
    model = bench_model(shapes, 10, SEED)
    cat = topic_catalogue(model, n, shapes.taps, shapes.d_c, seed=SEED)
    items = [item_id(i) for i in range(n)]
    run_dir.mkdir(parents=True, exist_ok=True)
    shapes_json = {"n_items": 10, "d_model": shapes.d_model, "n_taps": shapes.taps, "n_prompts": 2, "taps": PAPER_TAPS[: shapes.taps]}
    save_checkpoint(run_dir / "best.pt", {"kind": "weights", "epoch": 0, "shapes": shapes_json, "recommender": to_dict(model.cfg),
                                          "train": {}, "model": model.state_dict()})
    from linkedout.serve.model import model_version

    say(1, "writing the EmbeddingStore")
    store = EmbeddingStore.create(run_dir / "embeddings", items, cat.z, cat.gates, model_version(run_dir / "best.pt"),
                                  extra={"layers": PAPER_TAPS[: shapes.taps]})
    say(2, f"building the index (IVF-Flat, {settings.lists_for(n)} lists)")
    index = AnnIndex.build(cat.z, model_version=store.model_version, table_version=int(store.manifest["table_version"]),
                           settings=settings, threads=torch.get_num_threads())
    # the index's own bytes, from its layout (IVF-Flat: every vector + an 8-byte id, and the centroids);
    # an RSS difference is unreliable here (the allocator reuses what the catalogue's temporaries freed)
    index_mb = (n * (4 * shapes.d_z + 8) + index.nlist * 4 * shapes.d_z) / 2**20
    index.save(store.path)

    dense = DenseCatalogue(items=items, z=cat.z, gates=cat.gates, model_version=store.model_version, version=0)
    tower = serving_tower(model.user_encoder, d_z=shapes.d_z, max_history=HISTORY)  # what `lo-exp serve` runs
    exact = RankingService(dense, tower, max_k=1000)
    ann = AnnRankingService(SegmentedCatalogue(dense), tower, index, settings, max_k=1000)
    histories = topic_histories(cat.topic, n_queries, HISTORY, seed=SEED)
    queries = [Query(history=[items[j] for j in h], k=k) for h in histories.tolist()]

    say(3, f"exact answers for {n_queries} queries (batched)")
    truth: list[list[str]] = []
    for s in range(0, n_queries, 64):
        truth += [a.items for a in exact.recommend(queries[s : s + 64]) if isinstance(a, Answer)]

    say(4, f"{n_queries} single queries through the index (exact ones interleaved)")
    exact_every = max(1, n_queries // int(args.get("exact_timed", 100)))
    ann_t: list[float] = []
    ann_cpu: list[float] = []
    exact_t: list[float] = []
    hits = 0
    for i, q in enumerate(queries[:20]):  # warm-up
        ann.recommend([q])
    eager_t: list[float] = []  # the same query through the eager user tower, right after: the mechanism's ratio
    for i, q in enumerate(queries):
        t, c = time.perf_counter(), time.thread_time()
        a = ann.recommend([q])[0]
        ann_t.append(time.perf_counter() - t)
        ann_cpu.append(time.thread_time() - c)
        assert isinstance(a, Answer)
        hits += len(set(a.items) & set(truth[i]))
        ann.tower = model.encode_users
        t = time.perf_counter()
        eager = ann.recommend([q])[0]
        eager_t.append(time.perf_counter() - t)
        ann.tower = tower
        assert isinstance(eager, Answer) and eager.items == a.items
        if i % exact_every == 0:
            t = time.perf_counter()
            exact.recommend([q])
            exact_t.append(time.perf_counter() - t)
    return OpResult({
        "items": n, "queries": n_queries, "k": k, "d_z": shapes.d_z, "threads": torch.get_num_threads(),
        "engine": f"faiss {index.meta['factory']}", "tower": tower.mode, "nlist": index.nlist, "nprobe": settings.nprobe,
        "recall_at_10": hits / (k * n_queries),
        "ann_p50_ms": _pct(ann_t, 50), "ann_p99_ms": _pct(ann_t, 99), "ann_p50_cpu_ms": _pct(ann_cpu, 50),
        "ann_eager_tower_p50_ms": _pct(eager_t, 50),
        "exact_p50_ms": _pct(exact_t, 50), "exact_p99_ms": _pct(exact_t, 99), "exact_timed": len(exact_t),
        "index_build_s": index.meta["build_s"], "index_mb": index_mb,
        "dense_matrix_mb": n * shapes.d_z * 4 / 2**20,
        "run_dir": str(run_dir), "first_id": items[0], "last_id": items[-1],
        "loadavg_1m_end": os.getloadavg()[0],
    })


def bench_add_items(args: dict[str, Any], frames: dict[str, Any], ctx: OpContext) -> OpResult:
    """Append ``count`` items (ids continuing the catalogue's) in ``batches`` EmbeddingStore.add calls."""
    store = EmbeddingStore.open(args["store_dir"])
    count, batches = int(args["count"]), int(args.get("batches", 10))
    start = int(store.manifest["n_items"])
    shapes = BenchShapes()
    model = bench_model(shapes, 10, SEED)
    new = topic_catalogue(model, count, shapes.taps, shapes.d_c, seed=SEED, first_row=start)
    added: list[str] = []
    started = time.monotonic()
    per = -(-count // batches)
    for s in range(0, count, per):
        ids = [item_id(start + i) for i in range(s, min(s + per, count))]
        store.add(ids, new.z[s : s + len(ids)], new.gates[s : s + len(ids)], store.model_version)
        added += ids
        ctx.progress(len(added), count, "items", "adding")
    return OpResult({"added": len(added), "first": added[0], "last": added[-1], "seconds": time.monotonic() - started})
