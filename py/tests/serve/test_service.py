"""RankingService: exact top-K equals a brute-force ranking; bad queries are refused one by one."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from linkedout.store.embedding_store import DenseCatalogue, EmbeddingStore
from linkedout.serve.service import (
    Answer,
    Query,
    QueryError,
    RankingService,
    ServingState,
    refresh_if_changed,
)


class MeanLastTower(torch.nn.Module):
    """A small stand-in user tower: linear maps of the masked mean and of the last item."""

    def __init__(self, d_z: int) -> None:
        super().__init__()
        self.mean_proj = torch.nn.Linear(d_z, d_z)
        self.last_proj = torch.nn.Linear(d_z, d_z)

    def forward(self, history_z: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = torch.arange(history_z.shape[1])[None, :] < lengths[:, None]  # right padding
        mean = (history_z * mask[..., None]).sum(1) / lengths[:, None]
        last = history_z[torch.arange(history_z.shape[0]), lengths - 1]
        return self.mean_proj(mean) + self.last_proj(last)


def _catalogue(n: int = 300, d_z: int = 16, taps: int = 4, seed: int = 0) -> DenseCatalogue:
    g = torch.Generator().manual_seed(seed)
    return DenseCatalogue(
        items=[f"item{i:04d}" for i in range(n)],
        z=torch.randn(n, d_z, generator=g),
        gates=torch.softmax(torch.randn(n, taps, generator=g), dim=1),
        model_version="test",
        version=1,
    )


@pytest.fixture(scope="module")
def service() -> RankingService:
    torch.manual_seed(0)
    return RankingService(_catalogue(), MeanLastTower(16).eval(), max_k=50)


def _brute_force(service: RankingService, q: Query) -> tuple[list[str], list[float]]:
    cat = service.catalogue
    rows = [cat.index[i] for i in q.history]
    with torch.inference_mode():
        u = service.tower(cat.z[rows].unsqueeze(0), torch.tensor([len(rows)]))[0]
    scores = (cat.z @ u).tolist()
    banned = set(rows) | {cat.index[i] for i in q.exclude}
    order = sorted((r for r in range(cat.n_items) if r not in banned), key=lambda r: (-scores[r], r))[: q.k]
    return [cat.items[r] for r in order], [scores[r] for r in order]


def test_batched_answers_equal_brute_force_per_query(service: RankingService) -> None:
    queries = [
        Query(history=["item0001", "item0002", "item0003"], k=10),
        Query(history=[f"item{i:04d}" for i in range(100, 110)], k=20, exclude=["item0200"]),
        Query(history=["item0299"], k=5),
    ]
    answers = service.recommend(queries, with_gates=True)
    for q, a in zip(queries, answers):
        assert isinstance(a, Answer)
        items, scores = _brute_force(service, q)
        assert a.items == items
        assert a.scores == pytest.approx(scores, rel=1e-5, abs=1e-5)
        assert a.gates is not None and len(a.gates) == q.k
        assert a.gates[0] == pytest.approx(service.catalogue.gates[service.catalogue.index[a.items[0]]].tolist())
        assert not set(a.items) & (set(q.history) | set(q.exclude))


def test_each_bad_query_gets_its_own_error_and_good_ones_still_answer(service: RankingService) -> None:
    queries = [
        Query(history=[], k=5),
        Query(history=[f"item{i:04d}" for i in range(11)], k=5),
        Query(history=["item0001"], k=0),
        Query(history=["item0001"], k=51),
        Query(history=["item0001", "nope", "also-not"], k=5),
        Query(history=["item0001"], k=5, exclude=["ghost"]),
        Query(history=["item0001"], k=5),
    ]
    answers = service.recommend(queries)
    expected = [
        (400, "history is empty"),
        (400, "history has 11 items; at most 10"),
        (400, "k=0 is out of range 1..50"),
        (400, "k=51 is out of range 1..50"),
        (422, "unknown item id(s): 'nope', 'also-not'"),
        (422, "'ghost'"),
    ]
    for a, (status, text) in zip(answers, expected):
        assert isinstance(a, QueryError) and a.status == status and text in str(a)
    last = answers[-1]
    assert isinstance(last, Answer) and last.items == _brute_force(service, queries[-1])[0]
    assert last.gates is None


def test_fewer_items_than_k_once_seen_items_are_masked() -> None:
    cat = _catalogue(n=6)
    svc = RankingService(cat, MeanLastTower(16).eval(), max_k=10)
    (a,) = svc.recommend([Query(history=["item0000", "item0001"], k=10, exclude=["item0002"])])
    assert isinstance(a, Answer) and sorted(a.items) == ["item0003", "item0004", "item0005"]


def test_a_running_service_picks_up_items_added_to_the_store(tmp_path: Path) -> None:
    cat = _catalogue(n=40)
    store = EmbeddingStore.create(tmp_path / "emb", cat.items, cat.z, cat.gates, "v1")
    tower = MeanLastTower(16).eval()
    state = ServingState(
        store=EmbeddingStore.open(tmp_path / "emb"),
        service=RankingService(EmbeddingStore.open(tmp_path / "emb").load(), tower),
        manifest_mtime_ns=store.manifest_mtime_ns(),
        checked_at=0.0,
        extra={},
    )
    history = ["item0001", "item0002"]
    u = state.service.user_vectors([[1, 2]])[0]
    # a new item aligned with this user's vector must come first once it is in the store
    store.add(["brand-new"], (u * 100).unsqueeze(0), torch.full((1, 4), 0.25), "v1")
    assert refresh_if_changed(state, min_interval_s=0.0)
    (a,) = state.service.recommend([Query(history=history, k=3)])
    assert isinstance(a, Answer) and a.items[0] == "brand-new"
    state.checked_at = time.monotonic()
    assert not refresh_if_changed(state, min_interval_s=60.0)


def test_a_store_directory_caught_mid_replacement_is_looked_at_again_later(tmp_path: Path) -> None:
    """`EmbeddingStore.create` over an existing store renames the old directory away, then the new one in:
    a refresh that falls between the two keeps serving what it has, and the next one reads the new store."""
    cat = _catalogue(n=40)
    store = EmbeddingStore.create(tmp_path / "emb", cat.items, cat.z, cat.gates, "v1")
    state = ServingState(store=store, service=RankingService(store.load(), MeanLastTower(16).eval()),
                         manifest_mtime_ns=store.manifest_mtime_ns(), checked_at=0.0, extra={})
    (tmp_path / "emb").rename(tmp_path / "emb.old")  # the gap between the two renames
    assert not refresh_if_changed(state, min_interval_s=0.0)
    (before,) = state.service.recommend([Query(history=["item0001"], k=3)])
    assert isinstance(before, Answer) and len(before.items) == 3
    EmbeddingStore.create(tmp_path / "emb", cat.items[:30], cat.z[:30], cat.gates[:30], "v1")  # the new store
    assert refresh_if_changed(state, min_interval_s=0.0)
    assert state.service.catalogue.n_items == 30
