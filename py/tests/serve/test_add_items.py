"""Cold start on synthetic data with real videos: a video the model never saw, extracted with the tiny
VLLM and fused by the trained item tower, is recommended for a history of its topic-mates at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from store_topic_run import NEW_ITEM, PER_TOPIC, build_topic_run, item_id  # py/tests/serve/store_topic_run.py

from linkedout.store.embedding_store import EmbeddingStore
from linkedout.serve.ops import add_items, recommend
from linkedout.protocol.op import OpContext, OpError


@pytest.fixture(scope="module")
def topic_run(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("topic-run")
    run_dir = build_topic_run(root, tiny_model_dir)
    return {"root": root, "run_dir": run_dir, "ctx": OpContext(torch.device("cpu"), {})}


def _rank_of(item: str, history: list[str], run_dir: Path, ctx: OpContext) -> int:
    r = recommend({"run_dir": str(run_dir), "refresh_s": 0.0, "queries": [{"history": history, "k": 100}]}, {}, ctx)
    items = r.result["answers"][0]["items"]
    return items.index(item) + 1 if item in items else 10**6


def test_a_new_video_is_recommended_for_a_history_of_its_topic_mates(topic_run: dict[str, Any]) -> None:
    root, run_dir, ctx = topic_run["root"], topic_run["run_dir"], topic_run["ctx"]
    n_before = EmbeddingStore.open(run_dir / "embeddings").manifest["n_items"]
    r = add_items({"run_dir": str(run_dir), "videos": [{"item": NEW_ITEM, "video": str(root / "videos" / f"{NEW_ITEM}.mp4")}]},
                  {}, ctx).result
    assert r["added"] == [NEW_ITEM] and r["failed"] == [] and r["n_items"] == n_before + 1
    topic0 = [item_id(0, i) for i in range(3)]
    topic1 = [item_id(1, i) for i in range(3)]
    rank_topic0 = _rank_of(NEW_ITEM, topic0, run_dir, ctx)
    rank_topic1 = _rank_of(NEW_ITEM, topic1, run_dir, ctx)
    # 22 candidates once the history is masked; topic 0 has 5 unseen items besides the new one: the new
    # video must come before every item of the other topics (it was never in any training sequence)
    assert rank_topic0 <= PER_TOPIC - len(topic0) + 1, (rank_topic0, rank_topic1)
    assert rank_topic1 > PER_TOPIC - len(topic1), (rank_topic0, rank_topic1)


def test_add_items_refuses_known_ids_and_reports_broken_videos(topic_run: dict[str, Any], tmp_path: Path) -> None:
    run_dir, ctx = topic_run["run_dir"], topic_run["ctx"]
    with pytest.raises(OpError, match="item 't0-01' is already in"):
        add_items({"run_dir": str(run_dir), "videos": [{"item": "t0-01", "video": "x.mp4"}]}, {}, ctx)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    r = add_items({"run_dir": str(run_dir), "videos": [{"item": "broken-upload", "video": str(broken)}]}, {}, ctx).result
    assert r["added"] == [] and r["failed"][0]["item"] == "broken-upload"
    assert "broken-upload" not in EmbeddingStore.open(run_dir / "embeddings").load().index
