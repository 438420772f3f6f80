"""``serve.index: ann``: top-K through the approximate index, with exact answers where they matter.

Per batch of B users (u [B, d_z]), with F = max over the batch of k + |history| + |exclude| (over-fetch:
however many of the index's candidates are seen items, k unseen ones remain):

    index.search(u, F)           -> candidate rows [B, F]   (IVF-Flat, inner product; sorted by row below)
    delta rows n_indexed..N-1    -> appended to every row   (items added since the index was built)
    z[rows] · u                  -> exact scores [B, F + D] (the same vectors the exact path scores)
    seen rows, padding           -> -inf                    (masking is exact: never returned)
    top_k                        -> ties by lower row, as the exact path and the offline `rank` op

So a returned item and its score are always exact; only an item the index failed to propose can be
missing (recall < 1, measured by ``lo-exp bench serve --items N``). With ``nprobe`` ≥ ``nlist`` the
search is exhaustive and the answers equal the exact path's.

New items (``refresh``) are read from the store incrementally and join the delta segment at once; when
the delta reaches ``rebuild_after`` items a background thread folds it into a copy of the index (FAISS
releases the GIL) and the next request swaps it in and saves it beside the store.

A store *replaced* while serving (``embed`` run again: a new ``store_id``, or fewer rows) under the same
model is read again in full in the background — catalogue and index (the saved one if current, else
rebuilt) — while requests keep the old snapshot; the next request after it is ready swaps both in. A
store of another model version needs a new user tower too: the service says to restart it.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any, Callable, Generic, Sequence, TypeVar

import torch

from linkedout.config import default
from linkedout.model.ranking import top_k
from linkedout.serve.ann import AnnIndex, AnnSettings
from linkedout.serve.service import Answer, Query, QueryError, RankingService, UserTower
from linkedout.store.embedding_store import DenseCatalogue, EmbeddingStore, EmbeddingStoreError


def _return_freed_memory() -> None:
    """Give the pages of a dropped index back to the OS. FAISS keeps an IVF index as one small vector per
    list, which glibc serves from its arenas and keeps after free: without this, every rebuild's old
    index stayed resident (measured at 1M items: RSS 3.7 -> 6.6 GB over 10 rebuilds)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


class SegmentedCatalogue:
    """Row-major z and gates with room to grow: rows 0..n_indexed-1 are in the index, the rest is delta.

    Row-major because the ann path gathers candidate rows (the exact path's transposed copy is not kept:
    one matrix in RAM, not two).
    """

    def __init__(self, dense: DenseCatalogue):
        n, d, taps = dense.n_items, dense.d_z, int(dense.gates.shape[1])
        capacity = n + max(1024, n // 16)
        self._z = torch.empty(capacity, d)
        self._z[:n] = dense.z
        self._gates = torch.empty(capacity, taps)
        self._gates[:n] = dense.gates
        self.items = dense.items
        self.index = dense.index
        self.model_version = dense.model_version
        self.version = dense.version

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def d_z(self) -> int:
        return int(self._z.shape[1])

    @property
    def z(self) -> torch.Tensor:
        return self._z[: self.n_items]

    @property
    def gates(self) -> torch.Tensor:
        return self._gates[: self.n_items]

    def append(self, items: list[str], z: torch.Tensor, gates: torch.Tensor, version: int) -> None:
        n, m = self.n_items, len(items)
        if n + m > self._z.shape[0]:  # grow by half (rare): the old buffers stay valid for readers holding them
            capacity = (n + m) * 3 // 2
            bigger_z, bigger_g = torch.empty(capacity, self.d_z), torch.empty(capacity, self._gates.shape[1])
            bigger_z[:n], bigger_g[:n] = self._z[:n], self._gates[:n]
            self._z, self._gates = bigger_z, bigger_g
        self._z[n : n + m] = z
        self._gates[n : n + m] = gates
        for i, item in enumerate(items):
            self.index[item] = n + i
        self.items.extend(items)  # last: n_items grows only once the rows are in place
        self.version = version


T = TypeVar("T")


class BackgroundJob(Generic[T]):
    """One function run on a daemon thread (FAISS and LanceDB release the GIL); the serving thread takes
    its result once it has finished, so the objects it serves from change only between batches."""

    def __init__(self, name: str, fn: Callable[[], T]):
        self._result: T | None = None
        self._error: str | None = None

        def run() -> None:
            try:
                self._result = fn()
            except Exception as e:  # noqa: BLE001 - reported by the serving thread, which keeps what it has
                self._error = f"{type(e).__name__}: {e}"

        self._thread = threading.Thread(target=run, name=name, daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def result(self) -> tuple[T | None, str | None]:
        """(result, None), or (None, "ErrorType: message"); waits for the thread if it still runs."""
        self._thread.join()
        return self._result, self._error


class AnnRankingService(RankingService):
    """RankingService whose ``top_rows`` asks the index for candidates (module docstring). One per worker."""

    catalogue: SegmentedCatalogue  # type: ignore[assignment]

    def __init__(self, catalogue: SegmentedCatalogue, tower: UserTower, index: AnnIndex, settings: AnnSettings, *,
                 max_k: int = 1000, max_history: int = default("recommender", "ranker.max_history"),
                 on_event: Callable[[str], None] | None = None, store_dir: str | None = None, threads: int = 1,
                 store_id: str | None = None,
                 load_store: Callable[[EmbeddingStore], tuple[SegmentedCatalogue, AnnIndex, str | None]] | None = None):
        super().__init__(catalogue, tower, max_k=max_k, max_history=max_history)  # type: ignore[arg-type]
        self.index = index
        self.settings = settings
        self.on_event = on_event or (lambda _line: None)
        self.store_dir = store_dir
        self.threads = threads
        import faiss  # the index's OpenMP threads follow serve.threads, as torch's do

        faiss.omp_set_num_threads(threads)
        self._rebuild: BackgroundJob[AnnIndex] | None = None
        self.rebuilds = 0
        self.store_id = store_id  # the store write the catalogue was read from (EmbeddingStore.store_id)
        self.load_store = load_store  # a replaced store, read in full: (catalogue, index, note)
        self._reload: BackgroundJob[tuple[str | None, SegmentedCatalogue, AnnIndex, str | None]] | None = None
        self.reloads = 0

    @property
    def n_delta(self) -> int:
        return self.catalogue.n_items - self.index.n_indexed

    def recommend(self, queries: Sequence[Query], *, with_gates: bool = False) -> list[Answer | QueryError]:
        # a replaced store goes into service before the batch starts: validation, the user vectors and
        # the scores must all come from one catalogue
        self.swap_if_reloaded()
        return super().recommend(queries, with_gates=with_gates)

    def top_rows(self, users: torch.Tensor, seen: list[list[int]], k_max: int) -> tuple[list[list[float]], list[list[int]]]:
        self.swap_if_rebuilt()
        n_indexed, n = self.index.n_indexed, self.catalogue.n_items
        b = users.shape[0]
        fetch = k_max + max(len(x) for x in seen)  # over-fetch: k unseen candidates survive the masking
        cand = self.index.search(users, fetch, self.settings.nprobe)  # [B, F], -1 = none
        cand, _ = cand.sort(dim=1)  # row order: the tie rule (lower row first) becomes lower column first
        rows = cand.clamp(min=0)  # [B, C]
        if n > n_indexed:  # the delta segment: every row the index does not hold yet, [B, D]
            rows = torch.cat([rows, torch.arange(n_indexed, n).expand(b, -1)], dim=1)
        scores = torch.bmm(self.catalogue.z[rows], users[:, :, None]).squeeze(2)  # [B, C] exact inner products
        width = max(len(x) for x in seen)
        seen_rows = torch.tensor([x + [x[0]] * (width - len(x)) for x in seen], dtype=torch.long)  # [B, S]
        masked = (rows[:, :, None] == seen_rows[:, None, :]).any(dim=2)  # [B, C]
        masked[:, : cand.shape[1]] |= cand < 0
        scores.masked_fill_(masked, float("-inf"))
        top_scores, top_cols = top_k(scores, min(k_max, scores.shape[1]))
        return top_scores.tolist(), rows.gather(1, top_cols).tolist()

    # -- new items ---------------------------------------------------------------------------------------
    def reload(self, store: EmbeddingStore) -> None:
        """Read only the rows appended since the last look (a filtered scan, not the whole catalogue); a
        replaced store is read in full in the background (module docstring)."""
        cat = self.catalogue
        if store.model_version != cat.model_version:
            self.on_event(f"{store.path}: rewritten by model version {store.model_version} while serving "
                          f"{cat.model_version}; restart the service to serve it")
            return
        if self._reload is not None:  # a full read is under way; it looks again once it is in service
            return
        if store.store_id != self.store_id or int(store.manifest.get("n_items", 0)) < cat.n_items:
            self._start_reload(store)
            return
        items, z, gates, version = store.load_rows_from(cat.n_items)
        if items:
            self.add_rows(items, z, gates, version)

    def _start_reload(self, store: EmbeddingStore) -> None:
        if self.load_store is None:
            self.on_event(f"{store.path}: replaced while serving; restart the service to serve it")
            return
        load = self.load_store
        self.on_event(f"{store.path}: replaced while serving ({store.manifest.get('n_items')} items); reading it "
                      f"in the background, the old catalogue answers until then")
        self._reload = BackgroundJob("store-reload", lambda: (store.store_id, *load(store)))

    def swap_if_reloaded(self) -> bool:
        """Put a replaced store's catalogue and index into service once read; then pick up any rows added
        to it meanwhile."""
        if self._reload is None or self._reload.running:
            return False
        reloaded, error = self._reload.result()
        self._reload = None
        if reloaded is None:
            self.on_event(f"store reload failed ({error}); still serving the previous catalogue")
            return False
        store_id, catalogue, index, note = reloaded
        # a delta rebuild of the old index still running is for the old catalogue: dropped, not waited for
        # (the request that swaps would otherwise wait seconds on it); its thread ends on its own
        self._rebuild = None
        self.catalogue, self.index, self.store_id = catalogue, index, store_id
        self.reloads += 1
        _return_freed_memory()
        self.on_event(f"serving the replaced store: {catalogue.n_items} items" + (f"; {note}" if note else ""))
        if self.store_dir:
            try:
                self.reload(EmbeddingStore.open(self.store_dir))
            except (OSError, EmbeddingStoreError):  # replaced again right now: the next refresh looks again
                pass
        self.maybe_rebuild()
        return True

    def add_rows(self, items: list[str], z: torch.Tensor, gates: torch.Tensor, version: int) -> None:
        """Items appended to the store: answerable from the next query on (delta segment)."""
        self.catalogue.append(items, z, gates, version)
        self.maybe_rebuild()

    def maybe_rebuild(self) -> None:
        """Start folding the delta into a copy of the index, in the background, once it is big enough."""
        if self._rebuild is not None or self.n_delta < self.settings.rebuild_after:
            return
        base, n = self.index, self.catalogue.n_items
        z_new = self.catalogue.z[base.n_indexed : n].clone()
        version = self.catalogue.version
        self._rebuild = BackgroundJob("ann-rebuild", lambda: base.extended(z_new, table_version=version))

    def swap_if_rebuilt(self) -> bool:
        """Put a finished background rebuild into service (and save it); the delta shrinks accordingly."""
        if self._rebuild is None or self._rebuild.running:
            return False
        rebuilt, error = self._rebuild.result()
        self._rebuild = None
        if rebuilt is None:
            self.on_event(f"ann index: background rebuild failed ({error}); the delta stays exact")
            return False
        self.index = rebuilt  # the old index is freed here (searches ran on this thread)
        self.rebuilds += 1
        _return_freed_memory()
        if self.store_dir:
            threading.Thread(target=rebuilt.save, args=(self.store_dir,), name="ann-save", daemon=True).start()
        self.maybe_rebuild()
        return True

    def wait_rebuild(self) -> None:
        """Block until a running rebuild or reload is in service (tests, bench)."""
        if self._reload is not None:
            self._reload.result()
            self.swap_if_reloaded()
        if self._rebuild is not None:
            self._rebuild.result()
            self.swap_if_rebuilt()

    def describe(self) -> dict[str, Any]:
        return {"mode": "ann", "engine": f"faiss {self.index.meta.get('factory')}", "n_indexed": self.index.n_indexed,
                "n_delta": self.n_delta, "rebuilding": self._rebuild is not None, "rebuilds": self.rebuilds,
                "reloading": self._reload is not None, "reloads": self.reloads}
