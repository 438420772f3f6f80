"""Cold start on synthetic data with real videos: a video the model never saw, extracted with the tiny
VLLM and fused by the trained item tower, is recommended for a history of its topic-mates at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import torch

from linkedout.data.render import RenderSettings, VideoSpec, render_videos
from linkedout.extract.extractor import ExtractSettings, Extractor, extract_shard
from linkedout.extract.backbone import load_backbone
from linkedout.store.embedding_store import EmbeddingStore
from linkedout.store.serving_ops import add_items, embed, recommend
from linkedout.train.outputs import write_table_atomic
from linkedout.worker.op import OpContext, OpError

TOPICS = [  # (background, foreground, shape, motion): strongly different looks
    ((220, 30, 30), (255, 255, 255), "circle", "left_right"),
    ((30, 200, 40), (0, 0, 0), "square", "up_down"),
    ((30, 40, 220), (255, 255, 0), "triangle", "orbit"),
]
PER_TOPIC = 8
EXTRACT = {"frames": 4, "prompts": ["What is in this video?"], "side_channels": [], "merged_tokens": 4,
           "max_new_tokens": 2, "batch_size": 8, "store_dtype": "float16", "tap_every": 4}


def _spec(item: str, topic: int, variant: int) -> VideoSpec:
    bg, fg, shape, motion = TOPICS[topic]
    return VideoSpec(item=item, background=bg, foreground=fg, shape=shape, motion=motion,  # type: ignore[arg-type]
                     size=0.2 + 0.02 * (variant % 4), angle=10.0 * variant, speed=1.0, phase=0.1 * variant,
                     seconds=1.0, noise=8.0, seed=variant + 100 * topic)


def _item(topic: int, i: int) -> str:
    return f"t{topic}-{i:02d}"


def _write_split(split_dir: Path, videos_dir: Path, n_users: int, seed: int = 0) -> None:
    """Users stay within one topic: each sequence is a random walk over that topic's items."""
    split_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    items = sorted(_item(t, i) for t in range(len(TOPICS)) for i in range(PER_TOPIC))
    train, valid, test = [], [], []
    counts = {i: 0 for i in items}
    for u in range(n_users):
        topic = u % len(TOPICS)
        seq = [_item(topic, int(j)) for j in rng.choice(PER_TOPIC, size=7, replace=False)]
        user = f"u{u:04d}"
        for i in seq[:-2]:
            counts[i] += 1
        train.append((user, seq[:-2]))
        valid.append((user, seq[:-2], seq[-2], seq[:-2]))
        test.append((user, seq[:-1], seq[-1], seq[:-1]))
    write_table_atomic(split_dir / "items.arrow", pa.table({
        "item": items, "train_count": pa.array([counts[i] for i in items], pa.int64()),
        "title": [""] * len(items), "video": [str(videos_dir / f"{i}.mp4") for i in items]}))
    write_table_atomic(split_dir / "train.arrow", pa.table({
        "user": [r[0] for r in train], "sequence": pa.array([r[1] for r in train], pa.list_(pa.utf8()))}))
    for name, rows in (("valid", valid), ("test", test)):
        write_table_atomic(split_dir / f"{name}.arrow", pa.table({
            "user": [r[0] for r in rows], "history": pa.array([r[1] for r in rows], pa.list_(pa.utf8())),
            "target": [r[2] for r in rows], "masked": pa.array([r[3] for r in rows], pa.list_(pa.utf8()))}))


@pytest.fixture(scope="module")
def topic_run(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from linkedout.train.loop import train
    from linkedout.train.spec import TrainSpec

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("topic-run")
    specs = [_spec(_item(t, i), t, i) for t in range(len(TOPICS)) for i in range(PER_TOPIC)]
    specs.append(_spec("new-red-circle", 0, 17))  # the cold-start video: topic 0's look, never trained on
    render_videos(specs, root / "videos", root / "covers", RenderSettings(width=32, height=32, fps=4))
    _write_split(root / "split", root / "videos", n_users=150)
    extractor = Extractor(load_backbone(str(tiny_model_dir)), ExtractSettings.from_json(EXTRACT))
    catalogue = [{"item": s.item, "video": str(root / "videos" / f"{s.item}.mp4")} for s in specs[:-1]]
    extract_shard(extractor, str(root / "tokens"), key="topic-test", dataset="topics", items=catalogue, shard=0, num_shards=1)
    train(TrainSpec.from_json({
        "run_dir": str(root / "run"), "split_dir": str(root / "split"), "store": str(root / "tokens"),
        "recommender": {"d_c": 32, "d_z": 16, "compressor": {"heads": 2}, "moe": {"expert_hidden": 32, "gate_hidden": 16},
                        "dropout": 0.0},
        "train": {"epochs": 12, "batch_size": 32, "lr": {"item_encoder": 3e-3, "ranker": 3e-3}, "early_stopping_patience": 0},
        "device": "cpu"}))
    ctx = OpContext(torch.device("cpu"), {})
    embed({"run_dir": str(root / "run"), "split_dir": str(root / "split"), "token_store": str(root / "tokens")}, {}, ctx)
    return {"root": root, "run_dir": root / "run", "ctx": ctx}


def _rank_of(item: str, history: list[str], run_dir: Path, ctx: OpContext) -> int:
    r = recommend({"run_dir": str(run_dir), "refresh_s": 0.0, "queries": [{"history": history, "k": 100}]}, {}, ctx)
    items = r.result["answers"][0]["items"]
    return items.index(item) + 1 if item in items else 10**6


def test_a_new_video_is_recommended_for_a_history_of_its_topic_mates(topic_run: dict[str, Any]) -> None:
    root, run_dir, ctx = topic_run["root"], topic_run["run_dir"], topic_run["ctx"]
    n_before = EmbeddingStore.open(run_dir / "embeddings").manifest["n_items"]
    r = add_items({"run_dir": str(run_dir), "videos": [{"item": "new-red-circle", "video": str(root / "videos" / "new-red-circle.mp4")}]},
                  {}, ctx).result
    assert r["added"] == ["new-red-circle"] and r["failed"] == [] and r["n_items"] == n_before + 1
    topic0 = [_item(0, i) for i in range(3)]
    topic1 = [_item(1, i) for i in range(3)]
    rank_topic0 = _rank_of("new-red-circle", topic0, run_dir, ctx)
    rank_topic1 = _rank_of("new-red-circle", topic1, run_dir, ctx)
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
