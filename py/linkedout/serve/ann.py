"""The approximate index behind ``serve.index: ann`` (docs/serving.md, "Catalogues in the millions").

A FAISS index over the stored z_v, inner-product metric (what the exact path scores), saved beside the
store in ``<store_dir>/index/``:

- ``faiss.index``  the index (``faiss.write_index``) over catalogue rows 0..n_indexed-1, in row order
- ``index.json``   what it was built from: model version, LanceDB table version, n_indexed, d_z, the
  factory string and build parameters. An index whose model version or d_z differs from the store's,
  or which claims more rows or a later table version than the store has, or was built with other
  parameters, is stale: it is rebuilt (never used), and the caller says so in one line.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from linkedout.config import default

INDEX_DIR = "index"
INDEX_FILE = "faiss.index"
META_FILE = "index.json"
FORMAT = "linkedout.annindex/1"

IndexMode = Literal["exact", "ann", "auto"]


@dataclass(frozen=True)
class AnnSettings:
    """``serve.ann`` (schemas/config/serve.schema.json; defaults read from there)."""

    exact_up_to: int = default("serve", "ann.exact_up_to")
    hnsw_m: int = default("serve", "ann.hnsw_m")
    ef_construction: int = default("serve", "ann.ef_construction")
    ef_search: int = default("serve", "ann.ef_search")
    rebuild_after: int = default("serve", "ann.rebuild_after")

    @classmethod
    def from_json(cls, obj: dict[str, Any] | None) -> "AnnSettings":
        obj = obj or {}
        return cls(**{k: int(obj[k]) for k in ("exact_up_to", "hnsw_m", "ef_construction", "ef_search", "rebuild_after") if k in obj})

    @property
    def factory(self) -> str:
        return f"HNSW{self.hnsw_m},Flat"


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
    """A FAISS HNSW index over catalogue rows 0..n_indexed-1 (inner product) and what it was built from."""

    def __init__(self, index: Any, meta: dict[str, Any]):
        self.index = index
        self.meta = meta

    @property
    def n_indexed(self) -> int:
        return int(self.meta["n_indexed"])

    @classmethod
    def build(cls, z: torch.Tensor, *, model_version: str, table_version: int, settings: AnnSettings,
              threads: int | None = None) -> "AnnIndex":
        """Index every row of z [n, d_z] (row i = catalogue row i)."""
        faiss = _faiss()
        if threads:
            faiss.omp_set_num_threads(int(threads))
        started = time.monotonic()
        d = int(z.shape[1])
        index = faiss.IndexHNSWFlat(d, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = settings.ef_construction
        index.add(_rows_f32(z))
        return cls(index, {"format": FORMAT, "engine": "faiss", "factory": settings.factory,
                           "ef_construction": settings.ef_construction, "model_version": model_version,
                           "table_version": int(table_version), "n_indexed": int(z.shape[0]), "d_z": d,
                           "build_s": time.monotonic() - started, "faiss": str(faiss.__version__)})

    def extended(self, z_new: torch.Tensor, *, table_version: int) -> "AnnIndex":
        """A copy with rows n_indexed.. added (the delta segment folded in); self stays usable meanwhile."""
        faiss = _faiss()
        index = faiss.clone_index(self.index)
        if z_new.shape[0]:
            index.add(_rows_f32(z_new))
        return AnnIndex(index, {**self.meta, "n_indexed": self.n_indexed + int(z_new.shape[0]),
                                "table_version": int(table_version)})

    def search(self, users: torch.Tensor, fetch: int, ef_search: int) -> torch.Tensor:
        """Candidate rows [B, fetch] int64 for user vectors [B, d_z]; -1 where the index has fewer."""
        faiss = _faiss()
        fetch = min(fetch, self.n_indexed)
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(ef_search, fetch)
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
        if m.get("factory") != settings.factory or int(m.get("ef_construction", -1)) != settings.ef_construction:
            return (f"built as {m.get('factory')} efConstruction {m.get('ef_construction')}, serve.ann asks for "
                    f"{settings.factory} efConstruction {settings.ef_construction}")
        return None
