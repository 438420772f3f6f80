"""Online ranking over an EmbeddingStore: user tower over <= max_history history vectors, then exact top-K.

Paper §3.4 ("store-and-retrieve"): the heavy VLLM work is offline. The paper evaluates the gate and
experts online per query (Table 5: MoE fusion 5.1 ms + ranking 0.846 ms); because the gate is
item-conditioned we precompute z_v offline too, so a query here is

    history ids --lookup--> H [B, L, d_z] --user tower--> u [B, d_z] --u @ Z^T--> scores [B, n_items]
    --mask seen items to -inf--> top-K (ties: lower catalogue row first, as the offline `rank` op)

``RankingService`` is model-agnostic: it takes any ``UserTower`` (a callable on padded history vectors).
The trained model's tower is served as ``linkedout.serve.tower.ServingTower`` (``TrainedModel.serving_tower``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import torch

from linkedout.config import default
from linkedout.model.ranking import top_k
from linkedout.store.embedding_store import DenseCatalogue, EmbeddingStore, EmbeddingStoreError


SCORES_BUFFER_BYTES = 64 * 1024 * 1024  # the largest score buffer kept between calls


class UserTower(Protocol):
    """history_z: [B, L, d_z] item vectors oldest first, right-padded with zeros; lengths: [B] real items.
    Returns the user vectors [B, d_z], scored against the catalogue by a dot product. (The trained
    model's ``LinkedOutRecommender.encode_users`` has exactly this signature.)"""

    def __call__(self, history_z: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor: ...


class QueryError(ValueError):
    """A request the service refuses; ``status`` is the HTTP status the front end answers with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Query:
    history: Sequence[str]  # oldest first, 1..max_history item ids
    k: int
    exclude: Sequence[str] = ()  # further ids never to return (the history is always excluded)
    gates: bool = False  # also return the gate weights of the returned items


@dataclass
class Answer:
    items: list[str]
    scores: list[float]
    gates: list[list[float]] | None  # per returned item, pi over taps (if asked)


class RankingService:
    """Exact top-K over a dense catalogue. Not thread-safe; one per worker process."""

    def __init__(self, catalogue: DenseCatalogue, tower: UserTower, *, max_k: int = 1000,
                 max_history: int = default("recommender", "ranker.max_history")):
        self.catalogue = catalogue
        self.tower = tower
        self.max_k = max_k
        self.max_history = max_history  # the trained ranker's recommender.ranker.max_history
        self._scores_buf: torch.Tensor | None = None

    def validate(self, q: Query) -> tuple[list[int], list[int]]:
        """Catalogue rows of the history and of every excluded item; QueryError on a bad query."""
        if len(q.history) == 0:
            raise QueryError(f"history is empty: give 1 to {self.max_history} recent item ids", 400)
        if len(q.history) > self.max_history:
            raise QueryError(f"history has {len(q.history)} items; at most {self.max_history} are allowed", 400)
        if not (1 <= q.k <= self.max_k):
            raise QueryError(f"k={q.k} is out of range 1..{self.max_k}", 400)
        index = self.catalogue.index
        unknown = [i for i in list(q.history) + list(q.exclude) if i not in index]
        if unknown:
            shown = ", ".join(repr(u) for u in unknown[:5])
            more = f" (+{len(unknown) - 5} more)" if len(unknown) > 5 else ""
            raise QueryError(f"unknown item id(s): {shown}{more}", 422)
        return [index[i] for i in q.history], [index[i] for i in q.exclude]

    @torch.inference_mode()
    def user_vectors(self, histories: Sequence[Sequence[int]]) -> torch.Tensor:
        """[B, d_z] user vectors for histories given as catalogue rows (oldest first)."""
        return self._user_vectors(histories)

    def _user_vectors(self, histories: Sequence[Sequence[int]]) -> torch.Tensor:
        # (no inference_mode of its own: recommend's covers it, and entering it costs ~70 µs a call)
        sizes = [len(h) for h in histories]
        width = max(sizes)
        # one tensor from padded lists (a per-row copy into a zeros tensor cost ~2 ms per 256 queries);
        # right padding with row 0: causal towers never read past a history's end
        rows = torch.tensor([list(h) + [0] * (width - len(h)) for h in histories], dtype=torch.long)  # [B, L]
        history_z = self.catalogue.z[rows]  # [B, L, d_z]
        return self.tower(history_z, torch.tensor(sizes, dtype=torch.long)).float()

    @torch.inference_mode()
    def recommend(self, queries: Sequence[Query], *, with_gates: bool = False) -> list[Answer | QueryError]:
        """Answer a batch of queries with one tower call and one matmul; bad queries get a QueryError."""
        answers: list[Answer | QueryError] = [QueryError("unanswered", 500)] * len(queries)
        good: list[int] = []
        rows: list[tuple[list[int], list[int]]] = []
        for i, q in enumerate(queries):
            try:
                rows.append(self.validate(q))
                good.append(i)
            except QueryError as e:
                answers[i] = e
        if not good:
            return answers
        users = self._user_vectors([h for h, _ in rows])  # [B, d_z]
        k_max = min(max(queries[i].k for i in good), self.catalogue.n_items)
        all_scores, all_rows = self.top_rows(users, [h + e for h, e in rows], k_max)
        items, gates = self.catalogue.items, self.catalogue.gates
        for b, i in enumerate(good):
            k = queries[i].k
            # -inf: fewer than k items are left once the seen ones are masked
            kept = [(s, r) for s, r in zip(all_scores[b][:k], all_rows[b][:k]) if s != float("-inf")]
            answers[i] = Answer(
                items=[items[r] for _, r in kept],
                scores=[s for s, _ in kept],
                gates=gates[[r for _, r in kept]].tolist() if (with_gates or queries[i].gates) else None,
            )
        return answers

    def reload(self, store: EmbeddingStore) -> None:
        """The store changed (``add``): read it again."""
        self.catalogue = store.load()

    def _scores_out(self, batch: int) -> torch.Tensor:
        """A [batch, n_items] view of one score buffer kept across calls (regrown when the batch or the
        catalogue grows). Allocating it anew each call costs page faults comparable to the matmul."""
        n = self.catalogue.n_items
        if batch * n * 4 > SCORES_BUFFER_BYTES:  # not kept: a large exact catalogue would pin it in RAM
            return torch.empty(batch, n)
        buf = self._scores_buf
        if buf is None or buf.shape[0] < batch or buf.shape[1] != n:
            buf = self._scores_buf = torch.empty(max(batch, buf.shape[0] if buf is not None and buf.shape[1] == n else 0), n)
        return buf[:batch]

    def top_rows(self, users: torch.Tensor, seen: list[list[int]], k_max: int) -> tuple[list[list[float]], list[list[int]]]:
        """Exact: scores of every item, seen rows masked, top k_max (ties: lower row first) as lists."""
        scores = self._scores_out(users.shape[0])  # [B, n_items], reused: no 20 MB page-faulted per batch of 256
        torch.matmul(users, self.catalogue.zt, out=scores)
        # mask seen items with one scatter: row b's history + excluded rows, padded with its first history row
        width = max(len(x) for x in seen)
        masked = torch.tensor([x + [x[0]] * (width - len(x)) for x in seen], dtype=torch.long)
        scores.scatter_(1, masked, float("-inf"))
        top_scores, top_rows = top_k(scores, k_max)
        return top_scores.tolist(), top_rows.tolist()  # one conversion for the whole batch


@dataclass
class ServingState:
    """What a worker keeps in ``ctx.state`` per run dir: the service and how to notice store updates."""

    store: EmbeddingStore
    service: RankingService
    manifest_mtime_ns: int
    checked_at: float
    extra: dict[str, Any]


def refresh_if_changed(state: ServingState, *, min_interval_s: float = 0.5) -> bool:
    """Reload the catalogue when ``add`` wrote to the store (polled at most every ``min_interval_s``)."""
    now = time.monotonic()
    if now - state.checked_at < min_interval_s:
        return False
    state.checked_at = now
    try:
        mtime = state.store.manifest_mtime_ns()
        if mtime == state.manifest_mtime_ns:
            return False
        store = EmbeddingStore.open(state.store.path)
    except (OSError, EmbeddingStoreError):
        # the store directory is being replaced (`create` renames the old one away, then the new one in):
        # keep serving what is loaded and look again at the next refresh
        return False
    state.store = store
    state.service.reload(state.store)
    state.manifest_mtime_ns = mtime
    return True
