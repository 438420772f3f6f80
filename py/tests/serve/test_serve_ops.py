"""embed / recommend / add-items ops on a really trained tiny run: the online answers equal the offline
`rank` output, and a new video is recommendable without retraining."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from linkedout.store.embedding_store import EmbeddingStore
from linkedout.serve.model import load_trained_model
from linkedout.serve.ops import add_items_from_store, embed, recommend
from linkedout.store.token_store import FeatureBatch, StoreSettings, TokenStore, write_token_store
from linkedout.protocol.op import OpContext, OpError
from linkedout.util.arrow import read_arrow

N_ITEMS = 40  # conftest.N_ITEMS (conftest modules are not importable by name)


@pytest.fixture(scope="module")
def embedded(trained_run: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run's store, embedded once; tests that add items work on their own copy (`store_copy`)."""
    out = tmp_path_factory.mktemp("emb") / "embeddings"
    # split_dir and store come from the run's spec.json
    embed({"run_dir": str(trained_run.run_dir), "out": str(out)}, {}, OpContext(torch.device("cpu"), {}))
    return out


def test_embed_writes_every_catalogue_item_with_the_training_gates(trained_run: Any, embedded: Path) -> None:
    assert trained_run.n_items == N_ITEMS
    store = EmbeddingStore.open(embedded)
    cat = store.load()
    items = read_arrow(trained_run.split_dir / "items.arrow").column("item").to_pylist()
    assert cat.items == items and cat.n_items == N_ITEMS
    assert store.model_version == load_trained_model(trained_run.run_dir).version
    assert store.manifest["layers"] == [0, 2, 4]
    assert store.manifest["token_store"] == str(trained_run.token_store.resolve())
    # gates.arrow is written by the training code from the same best weights: π must agree
    gates = read_arrow(trained_run.run_dir / "gates.arrow")
    assert gates.column("item").to_pylist() == items
    assert torch.allclose(cat.gates, torch.tensor(gates.column("gates").to_pylist()), atol=1e-6)
    assert torch.allclose(cat.gates.sum(1), torch.ones(N_ITEMS), atol=1e-5)


def test_recommend_equals_the_offline_rank_top_k_for_every_user(trained_run: Any, embedded: Path) -> None:
    ranks = read_arrow(trained_run.run_dir / "ranks.arrow")
    ctx = OpContext(torch.device("cpu"), {})
    checked = 0
    for split in ("valid", "test"):
        table = read_arrow(trained_run.split_dir / f"{split}.arrow")
        offline = {(r["user"], r["split"]): r["topk"] for r in ranks.to_pylist() if r["split"] == split}
        queries = [{"history": h, "k": 20, "exclude": m} for h, m in
                   zip(table.column("history").to_pylist(), table.column("masked").to_pylist())]
        r = recommend({"run_dir": str(trained_run.run_dir), "store_dir": str(embedded), "queries": queries}, {}, ctx).result
        for user, answer in zip(table.column("user").to_pylist(), r["answers"]):
            assert answer["items"] == offline[(user, split)], f"{split} user {user}"
            checked += 1
    assert checked == 160
    assert r["model_version"] == EmbeddingStore.open(embedded).model_version and r["layers"] == [0, 2, 4]


def test_recommend_answers_bad_queries_one_by_one_and_returns_gates(trained_run: Any, embedded: Path) -> None:
    ctx = OpContext(torch.device("cpu"), {})
    args = {"run_dir": str(trained_run.run_dir), "store_dir": str(embedded), "max_k": 30, "queries": [
        {"history": ["v00001", "nope"], "k": 5},
        {"history": ["v00001"], "k": 31},
        {"history": ["v00001", "v00002"], "k": 3, "gates": True},
    ]}
    answers = recommend(args, {}, ctx).result["answers"]
    assert answers[0]["error"]["status"] == 422 and "'nope'" in answers[0]["error"]["message"]
    assert answers[1]["error"] == {"status": 400, "message": "k=31 is out of range 1..30"}
    assert len(answers[2]["items"]) == 3 and len(answers[2]["gates"]) == 3
    assert all(abs(sum(g) - 1.0) < 1e-5 for g in answers[2]["gates"])


def test_recommend_refuses_a_store_from_another_model(trained_run: Any, tmp_path: Path) -> None:
    items = [f"v{i:05d}" for i in range(N_ITEMS)]
    EmbeddingStore.create(tmp_path / "emb", items, torch.zeros(N_ITEMS, 16), torch.zeros(N_ITEMS, 3), "0123456789abcdef")
    with pytest.raises(OpError, match="made by model version 0123456789abcdef.*run the embed stage again"):
        recommend({"run_dir": str(trained_run.run_dir), "store_dir": str(tmp_path / "emb"), "queries": []}, {},
                  OpContext(torch.device("cpu"), {}))


def _copy_features(src: TokenStore, src_item: str, new_item: str, out: Path) -> TokenStore:
    """A TokenStore holding one new item whose features equal `src_item`'s (a re-upload of the same video)."""
    settings = StoreSettings.from_json({**src.settings.to_json(), "key": "added"})
    idx = src.indices([src_item])
    prompts = len(settings.prompts)

    def rows(kind: str) -> torch.Tensor:
        return src.get(kind, idx)[0].float()  # [P, ...]

    batch = FeatureBatch(items=[new_item] * prompts, prompts=list(range(prompts)), n_old=[10] * prompts,
                         old_merged=rows("old_merged"), old_merged_size=rows("old_merged_size"), new=rows("new"),
                         old_mean=rows("old_mean"), old_last=rows("old_last"), new_last=rows("new_last"))
    return write_token_store(out, settings, batch, [])


def test_an_added_video_is_recommended_at_once_next_to_its_content_twin(
        trained_run: Any, embedded: Path, tmp_path: Path) -> None:
    import shutil

    store_dir = tmp_path / "embeddings"
    shutil.copytree(embedded, store_dir)
    ctx = OpContext(torch.device("cpu"), {})
    base = {"run_dir": str(trained_run.run_dir), "store_dir": str(store_dir), "refresh_s": 0.0}
    history = ["v00010", "v00011", "v00012"]
    before = recommend({**base, "queries": [{"history": history, "k": 5}]}, {}, ctx).result["answers"][0]
    twin = before["items"][0]
    new_store = _copy_features(TokenStore.open(trained_run.token_store), twin, "fresh-upload", tmp_path / "new-tokens")
    summary = add_items_from_store(trained_run.run_dir, new_store, store_dir)
    assert summary["added"] == ["fresh-upload"] and summary["n_items"] == N_ITEMS + 1
    after = recommend({**base, "queries": [{"history": history, "k": 5}]}, {}, ctx).result
    assert after["n_items"] == N_ITEMS + 1
    top2 = after["answers"][0]["items"][:2]
    assert set(top2) == {twin, "fresh-upload"}
    scores = after["answers"][0]["scores"]
    assert scores[0] == pytest.approx(scores[1], rel=1e-5)


def test_a_store_directory_alone_is_servable_through_its_recorded_checkpoint(trained_run: Any, embedded: Path) -> None:
    """The stage graph keeps embeddings/ in its own stage dir: serving finds best.pt via store.json."""
    assert not (embedded.parent / "best.pt").exists()
    ctx = OpContext(torch.device("cpu"), {})
    via_store = recommend({"run_dir": str(embedded.parent), "queries": [{"history": ["v00003"], "k": 5}]}, {}, ctx)
    via_run = recommend({"run_dir": str(trained_run.run_dir), "store_dir": str(embedded),
                         "queries": [{"history": ["v00003"], "k": 5}]}, {}, ctx)
    assert via_store.result["answers"] == via_run.result["answers"]


def test_recommend_equals_the_rank_op_run_in_shards(trained_run: Any, embedded: Path, tmp_path: Path) -> None:
    """The model helper's `rank` op itself (two user shards, top-30), not only training's ranks.arrow."""
    from linkedout.train.ops import rank_op

    ctx = OpContext(torch.device("cpu"), {})
    offline: dict[str, list[str]] = {}
    for index in range(2):
        out = tmp_path / f"ranks-{index}.arrow"
        rank_op({"run_dir": str(trained_run.run_dir), "split": "test", "shard": {"index": index, "count": 2},
                 "out": str(out), "topk": 30}, {}, ctx)
        offline.update({r["user"]: r["topk"] for r in read_arrow(out).to_pylist()})
    table = read_arrow(trained_run.split_dir / "test.arrow")
    queries = [{"history": h, "k": 30, "exclude": m} for h, m in
               zip(table.column("history").to_pylist(), table.column("masked").to_pylist())]
    answers = recommend({"run_dir": str(trained_run.run_dir), "store_dir": str(embedded), "queries": queries}, {},
                        ctx).result["answers"]
    users = table.column("user").to_pylist()
    assert len(offline) == len(users) == 80
    assert [a["items"] for a in answers] == [offline[u] for u in users]
