"""Side by side: which approximate index serves `serve.index: ann` (docs/serving.md, "Choosing the engine").

    PYTHONPATH=py nice -n 10 python -m linkedout.bench.ann_engines --items 1000000 --queries 1000 [--engines ...]

One process, one torch/faiss/lance thread, the catalogue of ``bench.catalogue`` (bench item tower over a
topic mixture), queries = bench user tower over topic histories. For each engine: build seconds, RSS
added by the index, recall@10 against exact ``topk(u @ Zᵀ)`` (after exact re-scoring of the candidates),
single-query p50/p99 ms. Prints one JSON line per engine and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from typing import Any, Callable

import numpy as np
import torch

K = 10
_BUILT: Any = None  # (builder, index, seconds, RSS MB) of the engine being measured


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure(name: str, build: Callable[[], Any], search: Callable[[Any, np.ndarray], np.ndarray], queries: np.ndarray,
            exact: np.ndarray, z: torch.Tensor) -> dict[str, Any]:
    global _BUILT
    if _BUILT is None or _BUILT[0] is not build:
        before = rss_mb()
        t = time.perf_counter()
        index = build()
        _BUILT = (build, index, time.perf_counter() - t, rss_mb() - before)
    _, index, build_s, added = _BUILT
    times, hits = [], 0
    for i in range(len(queries)):
        q = queries[i : i + 1]
        t = time.perf_counter()
        cand = search(index, q)  # candidate rows
        # exact re-score of the candidates (what the service does)
        cand_t = torch.from_numpy(cand[cand >= 0])
        s = z[cand_t] @ torch.from_numpy(q[0])
        top = cand_t[torch.topk(s, min(K, len(cand_t))).indices].numpy()
        times.append(time.perf_counter() - t)
        hits += len(set(top.tolist()) & set(exact[i].tolist()))
    a = np.asarray(times) * 1e3
    row = {"engine": name, "build_s": round(build_s, 1), "rss_added_mb": round(added), "recall_at_10": hits / (K * len(queries)),
           "p50_ms": round(float(np.percentile(a, 50)), 3), "p99_ms": round(float(np.percentile(a, 99)), 3),
           "loadavg_1m": os.getloadavg()[0]}
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--engines", nargs="*", default=["exact", "faiss-ivf-flat", "faiss-ivf-sq8", "faiss-hnsw", "lance-ivf-pq", "lance-ivf-hnsw-sq"])
    ap.add_argument("--cache", default="/tmp/lo-ann-engines")
    args = ap.parse_args()
    torch.set_num_threads(1)
    import faiss

    faiss.omp_set_num_threads(1)
    from linkedout.bench.catalogue import topic_catalogue, topic_histories
    from linkedout.serve.ann import AnnIndex, AnnSettings
    from linkedout.bench.serve import HISTORY, BenchShapes, bench_model

    shapes = BenchShapes()
    os.makedirs(args.cache, exist_ok=True)
    zf, qf = f"{args.cache}/z-{args.items}.npy", f"{args.cache}/q-{args.items}-{args.queries}.npy"
    if not os.path.exists(qf):
        model = bench_model(shapes, 10)
        cat = topic_catalogue(model, args.items, shapes.taps, shapes.d_c)
        hist = torch.from_numpy(topic_histories(cat.topic, args.queries, HISTORY))
        with torch.inference_mode():
            q = model.encode_users(cat.z[hist], torch.full((args.queries,), HISTORY)).float().numpy()
        np.save(zf, cat.z.numpy())
        np.save(qf, q)
    z_np = np.load(zf)
    queries = np.load(qf)
    z = torch.from_numpy(z_np)
    zt = z.T.contiguous()
    exact = torch.topk(torch.from_numpy(queries) @ zt, K, dim=1).indices.numpy()
    print(json.dumps({"items": args.items, "queries": args.queries, "d_z": z.shape[1], "loadavg_1m": os.getloadavg()[0]}), flush=True)
    n, d = z_np.shape
    norms = np.linalg.norm(z_np, axis=1)
    print(json.dumps({"z_norm_percentiles_1_50_99": np.percentile(norms, [1, 50, 99]).round(2).tolist()}), flush=True)
    nlist = int(4 * np.sqrt(n))
    for engine in args.engines:
        if engine == "exact":
            measure("exact topk(u @ Zt)", lambda: None, lambda _, q: torch.topk(torch.from_numpy(q) @ zt, K).indices.numpy()[0],
                    queries, exact, z)
        elif engine == "faiss-ivf-flat":
            # the serving index itself (linkedout.serve.ann.AnnIndex), as `serve.index: ann` builds it
            def build_flat() -> Any:
                return AnnIndex.build(z, model_version="bench", table_version=0, settings=AnnSettings(nlist=nlist), threads=1)
            for nprobe in (64, 128, 256):
                def search(index: Any, q: np.ndarray, nprobe: int = nprobe) -> np.ndarray:
                    return index.search(torch.from_numpy(q), K, nprobe).numpy()[0]
                measure(f"faiss IVF{nlist},Flat nprobe={nprobe}", build_flat, search, queries, exact, z)
        elif engine == "faiss-ivf-flat-l2":
            # MIPS as nearest neighbours: z' = [z, sqrt(M^2 - |z|^2)], q' = [q, 0] (Bachrach et al. 2014)
            norms2 = (z_np.astype(np.float64) ** 2).sum(1)
            z_aug = np.hstack([z_np, np.sqrt(norms2.max() - norms2)[:, None].astype(np.float32)])
            def build_l2() -> Any:
                quant = faiss.IndexFlatL2(d + 1)
                ix = faiss.IndexIVFFlat(quant, d + 1, nlist, faiss.METRIC_L2)
                ix.train(z_aug[np.random.default_rng(0).choice(n, min(n, 50 * nlist), replace=False)])
                ix.add(z_aug)
                return ix
            for nprobe in (16, 32, 64):
                def search(index: Any, q: np.ndarray, nprobe: int = nprobe) -> np.ndarray:
                    index.nprobe = nprobe
                    return index.search(np.hstack([q, np.zeros((1, 1), np.float32)]), K)[1][0]
                measure(f"faiss IVF{nlist},Flat on [z, sqrt(M^2-|z|^2)] (L2) nprobe={nprobe}", build_l2, search, queries, exact, z)
        elif engine == "faiss-ivf-sq8":
            def build_sq() -> Any:
                quant = faiss.IndexFlatIP(d)
                ix = faiss.IndexIVFScalarQuantizer(quant, d, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
                ix.train(z_np[np.random.default_rng(0).choice(n, min(n, 50 * nlist), replace=False)])
                ix.add(z_np)
                return ix
            for nprobe in (32, 64):
                def search(index: Any, q: np.ndarray, nprobe: int = nprobe) -> np.ndarray:
                    index.nprobe = nprobe
                    return index.search(q, 4 * K)[1][0]
                measure(f"faiss IVF{nlist},SQ8 nprobe={nprobe} + exact re-score of 40", build_sq, search, queries, exact, z)
        elif engine == "faiss-hnsw":
            def build_hnsw() -> Any:
                ix = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
                ix.hnsw.efConstruction = 40
                ix.add(z_np)
                return ix
            for ef in (128, 256, 512):
                def search(index: Any, q: np.ndarray, ef: int = ef) -> np.ndarray:
                    index.hnsw.efSearch = ef
                    return index.search(q, K)[1][0]
                measure(f"faiss HNSW32,Flat efSearch={ef}", build_hnsw, search, queries, exact, z)
        elif engine.startswith("lance"):
            os.environ.setdefault("LANCE_CPU_THREADS", "1")
            import lancedb
            import pyarrow as pa

            tmp = tempfile.mkdtemp(prefix="lo-lance-")
            tbl = lancedb.connect(tmp).create_table("items", pa.table({
                "row": pa.array(np.arange(n), pa.int64()),
                "vector": pa.FixedSizeListArray.from_arrays(pa.array(z_np.reshape(-1), pa.float32()), d)}))
            kind = "IVF_PQ" if engine == "lance-ivf-pq" else "IVF_HNSW_SQ"

            def build_lance() -> Any:
                kw: dict[str, Any] = {"num_partitions": int(np.sqrt(n)), "metric": "dot", "index_type": kind}
                if kind == "IVF_PQ":
                    kw["num_sub_vectors"] = d // 8
                tbl.create_index(**kw)
                return tbl
            for nprobes, refine in ((20, 10), (50, 20)):
                def search(index: Any, q: np.ndarray, nprobes: int = nprobes, refine: int = refine) -> np.ndarray:
                    s = index.search(q[0]).distance_type("dot").nprobes(nprobes).limit(K).select(["row"])
                    if kind == "IVF_PQ":
                        s = s.refine_factor(refine)
                    return s.to_arrow().column("row").to_numpy()
                measure(f"lancedb {kind} nprobes={nprobes}" + (f" refine_factor={refine}" if kind == "IVF_PQ" else ""),
                        build_lance, search, queries, exact, z)
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
