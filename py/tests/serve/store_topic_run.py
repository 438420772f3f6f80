"""Builds a small topic-structured run with real videos (shared by test_add_items.py and the TypeScript
serve tests, which run it through `python -c`): 3 topics x 8 items rendered as real .mp4, extracted with
the tiny VLLM, users that stay within one topic, a really trained model, and its EmbeddingStore.
One more video, `new-red-circle` (topic 0's look), is rendered but kept out of the catalogue: the
cold-start candidate. ~10 s on one core."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from linkedout.data.render import RenderSettings, VideoSpec, render_videos
from linkedout.extract.backbone import load_backbone
from linkedout.extract.extractor import ExtractSettings, Extractor, extract_shard
from linkedout.serve.ops import embed
from linkedout.train.outputs import write_table_atomic
from linkedout.protocol.op import OpContext

NEW_ITEM = "new-red-circle"
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


def item_id(topic: int, i: int) -> str:
    return f"t{topic}-{i:02d}"


def _write_split(split_dir: Path, videos_dir: Path, n_users: int, seed: int = 0) -> None:
    """Users stay within one topic: each sequence is a random walk over that topic's items."""
    split_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    items = sorted(item_id(t, i) for t in range(len(TOPICS)) for i in range(PER_TOPIC))
    train, valid, test = [], [], []
    counts = {i: 0 for i in items}
    for u in range(n_users):
        topic = u % len(TOPICS)
        seq = [item_id(topic, int(j)) for j in rng.choice(PER_TOPIC, size=7, replace=False)]
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



def build_topic_run(root: Path, tiny_model_dir: Path) -> Path:
    """Everything under `root`; returns the run directory (root/run, with root/run/embeddings)."""
    from linkedout.train.loop import train
    from linkedout.train.spec import TrainSpec

    torch.set_num_threads(1)
    specs = [_spec(item_id(t, i), t, i) for t in range(len(TOPICS)) for i in range(PER_TOPIC)]
    specs.append(_spec(NEW_ITEM, 0, 17))  # the cold-start video: topic 0's look, never trained on
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
    embed({"run_dir": str(root / "run"), "split_dir": str(root / "split"), "store": str(root / "tokens")}, {},
          OpContext(torch.device("cpu"), {}))
    return root / "run"


if __name__ == "__main__":  # python store_topic_run.py ROOT TINY_MODEL_DIR (the TypeScript tests)
    import sys

    build_topic_run(Path(sys.argv[1]), Path(sys.argv[2]))
