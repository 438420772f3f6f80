"""The approximate index behind ``serve.index: ann`` (docs/serving.md, "Catalogues in the millions").

A FAISS IVF-Flat index over the stored z_v, inner-product metric (what the exact path scores), saved beside the
store in ``<store_dir>/index/``:

- ``faiss.index``  the index (``faiss.write_index``) over catalogue rows 0..n_indexed-1, in row order
- ``index.json``   what it was built from: model version, LanceDB table version, n_indexed, d_z, the
  factory string and build parameters. An index whose model version or d_z differs from the store's,
  or which claims more rows or a later table version than the store has, or was built with another
  ``nlist`` than ``serve.ann`` asks for, is stale: it is rebuilt (never used), and the caller says so in one line.

The index only proposes candidates. The service re-scores them exactly against the stored vectors,
adds the rows added after the index was built (the *delta segment*, scored exhaustively) and masks the
seen items before the exact top-K (linkedout.serve.service.AnnRankingService).

``EmbeddingStore.create`` replaces the whole store directory, so re-running ``embed`` removes the old
index with it; ``add`` only appends rows, which the index treats as delta until it is extended.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from linkedout.config.generated import ServeAnn

INDEX_DIR = "index"
INDEX_FILE = "faiss.index"
META_FILE = "index.json"
FORMAT = "linkedout.annindex/1"

IndexMode = Literal["exact", "ann", "auto"]


@dataclass(frozen=True, kw_only=True)
class AnnSettings(ServeAnn):
    """``serve.ann`` (fields and defaults generated from schemas/config/serve.schema.json)."""

    @classmethod
    def from_json(cls, obj: Mapping[str, Any] | ServeAnn | None) -> "AnnSettings":
        if isinstance(obj, ServeAnn):
            obj = asdict(obj)
        obj = obj or {}
        return cls(**{f.name: int(obj[f.name]) for f in fields(ServeAnn) if f.name in obj})

    def lists_for(self, n_items: int) -> int:
        """IVF lists for a catalogue of n_items: nlist, or 4·√N; at most N/8 (k-means needs points per list)."""
        wanted = self.nlist or int(round(4 * np.sqrt(n_items)))
        return max(1, min(wanted, n_items // 8))


def resolve_mode(mode: str, n_items: int, settings: AnnSettings) -> Literal["exact", "ann"]:
    """``auto``: exact up to ``exact_up_to`` items (online answers equal the offline evaluation), the index above."""
    if mode == "exact" or mode == "ann":
        return mode  # type: ignore[return-value]
    if mode == "auto":
        return "exact" if n_items <= settings.exact_up_to else "ann"
    raise ValueError(f"serve.index: {mode!r} is not one of exact, ann, auto")


def _faiss() -> Any:
    import faiss  # imported lazily: only stores served with an index need it

    return faiss


def _rows_f32(z: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(z.detach().to(torch.float32).cpu().numpy())


class AnnIndex:
    """A FAISS IVF-Flat index over catalogue rows 0..n_indexed-1 (inner product) and what it was built from.

    IVF-Flat, not HNSW or LanceDB's IVF-PQ: measured side by side (docs/serving.md, "Choosing the
    engine") it gave the best recall for the latency and the shortest build; its lists hold the exact
    vectors, new rows are assigned to the trained centroids (cheap ``add``), and ``nprobe`` = ``nlist``
    is an exhaustive search."""

    def __init__(self, index: Any, meta: dict[str, Any]):
        self.index = index
        self.meta = meta
        self._params: dict[int, Any] = {}  # nprobe -> SearchParametersIVF (made once: ~20 µs per query otherwise)

    @property
    def n_indexed(self) -> int:
        return int(self.meta["n_indexed"])

    @property
    def nlist(self) -> int:
        return int(self.meta["nlist"])

    @classmethod
    def build(cls, z: torch.Tensor, *, model_version: str, table_version: int, settings: AnnSettings,
              threads: int | None = None, seed: int = 0) -> "AnnIndex":
        """Index every row of z [n, d_z] (row i = catalogue row i); k-means on a sample of <= 50 rows per list."""
        faiss = _faiss()
        if threads:
            faiss.omp_set_num_threads(int(threads))
        started = time.monotonic()
        rows = _rows_f32(z)
        n, d = rows.shape
        nlist = settings.lists_for(n)
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = seed
        sample = rows if n <= 50 * nlist else rows[np.random.default_rng(seed).choice(n, 50 * nlist, replace=False)]
        index.train(sample)
        index.add(rows)
        return cls(index, {"format": FORMAT, "engine": "faiss", "factory": f"IVF{nlist},Flat", "nlist": nlist,
                           "model_version": model_version, "table_version": int(table_version), "n_indexed": n, "d_z": d,
                           "build_s": time.monotonic() - started, "faiss": str(faiss.__version__)})

    def extended(self, z_new: torch.Tensor, *, table_version: int) -> "AnnIndex":
        """A copy with rows n_indexed.. added to the trained lists (the delta segment folded in); self
        stays usable meanwhile."""
        faiss = _faiss()
        index = faiss.clone_index(self.index)
        if z_new.shape[0]:
            index.add(_rows_f32(z_new))
        return AnnIndex(index, {**self.meta, "n_indexed": self.n_indexed + int(z_new.shape[0]),
                                "table_version": int(table_version)})

    def search(self, users: torch.Tensor, fetch: int, nprobe: int) -> torch.Tensor:
        """Candidate rows [B, fetch] int64 for user vectors [B, d_z]; -1 where the probed lists hold fewer."""
        faiss = _faiss()
        fetch = min(fetch, self.n_indexed)
        nprobe = min(nprobe, self.nlist)
        params = self._params.get(nprobe)
        if params is None:
            params = self._params[nprobe] = faiss.SearchParametersIVF()
            params.nprobe = nprobe
        _, rows = self.index.search(_rows_f32(users), fetch, params=params)
        return torch.from_numpy(rows)

    # -- on disk ---------------------------------------------------------------------------------------
    def save(self, store_dir: str | os.PathLike[str]) -> Path:
        """Write ``<store_dir>/index/`` atomically (temp dir + rename): a reader sees the old or the new."""
        faiss = _faiss()
        final = Path(store_dir) / INDEX_DIR
        tmp = final.with_name(f".{INDEX_DIR}.tmp-{os.getpid()}-{time.monotonic_ns()}")
        tmp.mkdir(parents=True)
        faiss.write_index(self.index, str(tmp / INDEX_FILE))
        (tmp / META_FILE).write_text(json.dumps(self.meta, indent=2) + "\n")
        old = final.with_name(f".{INDEX_DIR}.old-{os.getpid()}-{time.monotonic_ns()}")
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
        return final

    @classmethod
    def load(cls, store_dir: str | os.PathLike[str]) -> "AnnIndex | None":
        """The saved index, or None if there is none."""
        d = Path(store_dir) / INDEX_DIR
        if not (d / META_FILE).is_file() or not (d / INDEX_FILE).is_file():
            return None
        meta = json.loads((d / META_FILE).read_text())
        return cls(_faiss().read_index(str(d / INDEX_FILE)), meta)

    def stale_reason(self, *, model_version: str, table_version: int, n_items: int, d_z: int,
                     settings: AnnSettings) -> str | None:
        """Why this index must not serve the store as it is now (None: it may; rows past n_indexed are delta)."""
        m = self.meta
        if m.get("format") != FORMAT:
            return f"format {m.get('format')!r}, expected {FORMAT!r}"
        if m.get("model_version") != model_version:
            return f"built for model version {m.get('model_version')}, the store holds {model_version}"
        if int(m.get("d_z", -1)) != d_z:
            return f"built for d_z {m.get('d_z')}, the store has {d_z}"
        if int(m.get("table_version", -1)) > table_version or self.n_indexed > n_items:
            return (f"built at table version {m.get('table_version')} over {self.n_indexed} items, the store is at "
                    f"version {table_version} with {n_items} (the store was rewritten)")
        if settings.nlist and self.nlist != settings.nlist:
            return f"built with nlist {self.nlist}, serve.ann asks for nlist {settings.nlist}"
        return None
