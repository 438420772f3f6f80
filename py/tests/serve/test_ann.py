"""serve.index ann: the FAISS index proposes, the service re-scores, masks and ranks exactly.

- exhaustive search parameters (nprobe >= nlist) give the exact answers (offline `rank` output
  of a really trained run, and the exact service on a random catalogue);
- masking stays exact when the index is far from exhaustive: no seen or excluded item is returned;
- a stale index (another model version, a rewritten store, other build parameters) is rebuilt, said in
  one line; `build_index` writes it beside the store;
- items added to an indexed store are answered at once (delta segment), and the background rebuild
  folds them into the index.
"""

from __future__ import annotations

import json
import time
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from linkedout.protocol.op import OpContext
from linkedout.serve.ann import INDEX_DIR, META_FILE, AnnIndex, AnnSettings
from linkedout.serve.ann_service import AnnRankingService, SegmentedCatalogue
from linkedout.serve.ops import build_index, embed, recommend
from linkedout.serve.service import Answer, Query, RankingService
from linkedout.store.embedding_store import DenseCatalogue, EmbeddingStore
from linkedout.util.arrow import read_arrow

EXHAUSTIVE = {"nprobe": 1_000_000}  # >= nlist: every list searched


@pytest.fixture(scope="module")
def indexed(trained_run: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny trained run's store, embedded with `index: ann` (the embed op builds the index)."""
    out = tmp_path_factory.mktemp("emb-ann") / "embeddings"
    r = embed({"run_dir": str(trained_run.run_dir), "out": str(out), "index": "ann", "ann": EXHAUSTIVE}, {},
              OpContext(torch.device("cpu"), {})).result
    assert r["index"]["n_indexed"] == trained_run.n_items
    return out


def test_exhaustive_ann_answers_equal_the_offline_rank_top_k_for_every_user(trained_run: Any, indexed: Path) -> None:
    ranks = read_arrow(trained_run.run_dir / "ranks.arrow")
    ctx = OpContext(torch.device("cpu"), {})
    checked = 0
    for split in ("valid", "test"):
        table = read_arrow(trained_run.split_dir / f"{split}.arrow")
        offline = {(r["user"], r["split"]): r["topk"] for r in ranks.to_pylist() if r["split"] == split}
        queries = [{"history": h, "k": 20, "exclude": m} for h, m in
                   zip(table.column("history").to_pylist(), table.column("masked").to_pylist())]
        r = recommend({"run_dir": str(trained_run.run_dir), "store_dir": str(indexed), "index": "ann", "ann": EXHAUSTIVE,
                       "queries": queries}, {}, ctx).result
        assert r["index"]["mode"] == "ann" and r["index"]["n_indexed"] == trained_run.n_items
        assert "notes" not in r  # the embed stage's index was current: used as is
        for user, answer in zip(table.column("user").to_pylist(), r["answers"]):
            assert answer["items"] == offline[(user, split)], f"{split} user {user}"
            checked += 1
    assert checked == 160


class MeanTower(torch.nn.Module):
    def __init__(self, d_z: int) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(d_z, d_z)

    def forward(self, history_z: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = torch.arange(history_z.shape[1])[None, :] < lengths[:, None]
        return self.proj((history_z * mask[..., None]).sum(1) / lengths[:, None])


def _services(n: int, settings: AnnSettings, seed: int = 0) -> tuple[RankingService, AnnRankingService]:
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 16, generator=g)
    gates = torch.softmax(torch.randn(n, 3, generator=g), dim=1)
    items = [f"item{i:05d}" for i in range(n)]

    def dense() -> DenseCatalogue:
        return DenseCatalogue(items=list(items), z=z.clone(), gates=gates.clone(), model_version="m", version=1)

    torch.manual_seed(seed)
    tower = MeanTower(16).eval()
    index = AnnIndex.build(z, model_version="m", table_version=1, settings=settings)
    return (RankingService(dense(), tower, max_k=100),
            AnnRankingService(SegmentedCatalogue(dense()), tower, index, settings, max_k=100))


def _queries(n: int, count: int, seed: int) -> list[Query]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(count):
        rows = torch.randperm(n, generator=g)[:14].tolist()
        out.append(Query(history=[f"item{r:05d}" for r in rows[:10]], k=10, exclude=[f"item{r:05d}" for r in rows[10:]],
                         gates=True))
    return out


def test_exhaustive_ann_equals_exact_on_a_random_catalogue_with_gates() -> None:
    exact, ann = _services(600, AnnSettings(nprobe=1_000_000))
    queries = _queries(600, 50, seed=1)
    for e, a in zip(exact.recommend(queries), ann.recommend(queries)):
        assert isinstance(e, Answer) and isinstance(a, Answer)
        assert a.items == e.items
        assert a.scores == pytest.approx(e.scores, rel=1e-5, abs=1e-6)
        assert a.gates == e.gates  # the same stored rows


def test_masking_is_exact_when_the_index_proposes_mostly_seen_items() -> None:
    """History = the user's own best items, so the index's few candidates are mostly seen: the over-fetch
    still leaves k unseen ones, and no seen or excluded item is ever returned."""
    n = 3000
    exact, ann = _services(n, AnnSettings(nlist=64, nprobe=1))
    checked = 0
    for q in _queries(n, 40, seed=2):
        first = exact.recommend([Query(history=q.history, k=30)])[0]
        assert isinstance(first, Answer)
        # the next query's history and exclude are the previous answer's best items
        hard = Query(history=first.items[:10], k=10, exclude=first.items[10:30] + list(q.exclude))
        a = ann.recommend([hard])[0]
        assert isinstance(a, Answer)
        assert len(a.items) == 10
        assert not set(a.items) & (set(hard.history) | set(hard.exclude))
        checked += 1
    assert checked == 40


def _store(tmp_path: Path, n: int = 500, version: str = "m0") -> EmbeddingStore:
    g = torch.Generator().manual_seed(3)
    return EmbeddingStore.create(tmp_path / "embeddings", [f"v{i:05d}" for i in range(n)], torch.randn(n, 16, generator=g),
                                 torch.zeros(n, 2), version)


def test_a_stale_index_is_rebuilt_with_a_line_saying_why(tmp_path: Path) -> None:
    store = _store(tmp_path)
    r = build_index({"run_dir": str(tmp_path), "store_dir": str(store.path)}, {}, OpContext(torch.device("cpu"), {})).result
    assert r["n_indexed"] == 500 and "rebuild asked for" in r["note"]
    meta_path = store.path / INDEX_DIR / META_FILE
    # another model version's index: not used, rebuilt
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "model_version": "ffffffffffffffff"}))
    again = build_index({"run_dir": str(tmp_path), "store_dir": str(store.path), "rebuild": False}, {},
                        OpContext(torch.device("cpu"), {})).result
    assert "stale: built for model version ffffffffffffffff, the store holds m0" in again["note"]
    assert json.loads(meta_path.read_text())["model_version"] == "m0"
    # current: kept as is
    kept = build_index({"run_dir": str(tmp_path), "store_dir": str(store.path), "rebuild": False}, {},
                       OpContext(torch.device("cpu"), {})).result
    assert kept["note"] is None
    # other build parameters than serve.ann asks for
    other = build_index({"run_dir": str(tmp_path), "store_dir": str(store.path), "rebuild": False, "ann": {"nlist": 8}}, {},
                        OpContext(torch.device("cpu"), {})).result
    assert "stale: built with nlist 62, serve.ann asks for nlist 8" in other["note"]  # 500 items: 4·√500 ≈ 89 > 500/8
    # an index claiming more rows than the store holds (the store was rewritten smaller)
    idx = AnnIndex.load(store.path)
    assert idx is not None
    assert idx.stale_reason(model_version="m0", table_version=int(store.manifest["table_version"]), n_items=400, d_z=16,
                            settings=AnnSettings(nlist=8)) is not None
    # re-running embed (EmbeddingStore.create) replaces the directory: the old index goes with it
    _store(tmp_path, n=450, version="m1")
    assert AnnIndex.load(store.path) is None


def test_added_items_are_answered_at_once_then_folded_into_the_index(tmp_path: Path) -> None:
    n = 400
    exact, ann = _services(n, AnnSettings(nprobe=1_000_000, rebuild_after=5))
    top = exact.recommend([Query(history=["item00001", "item00002"], k=3)])[0]
    assert isinstance(top, Answer)
    best = exact.catalogue.z[exact.catalogue.index[top.items[0]]]
    # three items: a twin of the best item (scores as high), two others; below rebuild_after
    new_z = torch.stack([best * 1.5, -best, best * 0.1])
    ann.add_rows(["new-a", "new-b", "new-c"], new_z, torch.zeros(3, 3), version=2)
    assert ann.n_delta == 3 and ann.index.n_indexed == n
    a = ann.recommend([Query(history=["item00001", "item00002"], k=3)])[0]
    assert isinstance(a, Answer) and a.items[0] == "new-a"
    # more items: the delta reaches rebuild_after, a background thread extends a copy of the index
    ann.add_rows([f"more{i}" for i in range(5)], torch.randn(5, 16), torch.zeros(5, 3), version=3)
    ann.wait_rebuild()
    assert ann.index.n_indexed == n + 8 and ann.n_delta == 0 and ann.rebuilds == 1
    again = ann.recommend([Query(history=["item00001", "item00002"], k=3, exclude=["new-a"])])[0]
    assert isinstance(again, Answer) and "new-a" not in again.items and again.items[0] == top.items[0]


def test_recommend_op_reads_added_rows_incrementally_and_answers_them(tmp_path: Path, trained_run: Any, indexed: Path) -> None:
    store_dir = tmp_path / "embeddings"
    shutil.copytree(indexed, store_dir)
    ctx = OpContext(torch.device("cpu"), {})
    base = {"run_dir": str(trained_run.run_dir), "store_dir": str(store_dir), "refresh_s": 0.0, "index": "ann",
            "ann": {**EXHAUSTIVE, "rebuild_after": 1000}}
    history = ["v00010", "v00011", "v00012"]
    before = recommend({**base, "queries": [{"history": history, "k": 5}]}, {}, ctx).result["answers"][0]
    store = EmbeddingStore.open(store_dir)
    cat = store.load()
    twin = cat.z[cat.index[before["items"][0]]]
    store.add(["fresh-upload"], twin[None] * 2, cat.gates[:1], store.model_version)
    after = recommend({**base, "queries": [{"history": history, "k": 5}]}, {}, ctx).result
    assert after["n_items"] == 41 and after["index"]["n_delta"] == 1
    assert after["answers"][0]["items"][0] == "fresh-upload"


def test_a_store_replaced_while_serving_is_read_again_in_the_background(tmp_path: Path, trained_run: Any, indexed: Path) -> None:
    """`embed` run again under the same model (same item count, other vectors): only the store id tells
    the rows apart from the old ones. The ann worker reads the new store and index in the background and
    then answers from it, as a fresh exact service over the new store does."""
    store_dir = tmp_path / "embeddings"
    shutil.copytree(indexed, store_dir)
    ctx = OpContext(torch.device("cpu"), {})
    base = {"run_dir": str(trained_run.run_dir), "store_dir": str(store_dir), "refresh_s": 0.0, "index": "ann", "ann": EXHAUSTIVE}
    queries = [{"history": [f"v{i:05d}", f"v{i + 1:05d}", f"v{i + 7:05d}"], "k": 8} for i in range(0, 30, 3)]
    before = recommend({**base, "queries": queries}, {}, ctx).result
    old = EmbeddingStore.open(store_dir)
    cat = old.load()
    flipped = torch.flip(cat.z, dims=[0])  # every item gets another item's vector
    EmbeddingStore.create(store_dir, cat.items, flipped, cat.gates, old.model_version, extra={"layers": old.manifest["layers"]})
    assert EmbeddingStore.open(store_dir).store_id != old.store_id
    items = lambda answers: [a["items"] for a in answers]  # noqa: E731 - (scores: re-scored rows vs one matmul, last bits)
    expected = recommend({**base, "index": "exact", "queries": queries}, {}, OpContext(torch.device("cpu"), {})).result["answers"]
    assert items(expected) != items(before["answers"])  # the test tells the two stores apart
    notes: list[str] = []
    deadline = time.monotonic() + 120
    while True:
        r = recommend({**base, "queries": queries}, {}, ctx).result
        notes += r.get("notes", [])
        if items(r["answers"]) == items(expected) or time.monotonic() > deadline:
            break
        assert r["answers"] == before["answers"]  # until the new store is in service, the old one answers whole
        time.sleep(0.05)
    assert items(r["answers"]) == items(expected)
    for got, want in zip(r["answers"], expected):
        assert got["scores"] == pytest.approx(want["scores"], rel=1e-5, abs=1e-6)
    assert any("replaced while serving" in n for n in notes) and any("serving the replaced store: 40 items" in n for n in notes)
    assert r["index"]["reloads"] == 1 and r["index"]["n_delta"] == 0
    assert (store_dir / INDEX_DIR / META_FILE).is_file()  # the new store's index, built and saved beside it
