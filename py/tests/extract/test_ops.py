"""The build_tiny_model and extract worker ops, called as the worker calls them (args validated)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from linkedout.extract.ops import build_tiny_model_op, extract_op, finalize_store_op
from linkedout.store.token_store import TokenStore
from linkedout.protocol.op import OpContext, OpError
from linkedout.worker.protocol import args_validator


def _ctx(progress: list[dict[str, Any]]) -> OpContext:
    return OpContext(torch.device("cpu"), {}, progress_sink=progress.append, min_progress_interval_s=0.0)


def test_args_schemas_accept_good_and_reject_unknown_keys(tmp_path: Path) -> None:
    v = args_validator("extract")
    good = {"store": "s", "key": "k", "shard": 0, "num_shards": 1, "items": [{"item": "a", "video": "a.mp4", "title": "t"}],
            "model": {"path": "m"}, "extract": {"frames": 4}}
    assert not list(v.iter_errors(good))
    assert list(v.iter_errors({**good, "extract": {"frame": 4}}))
    assert list(v.iter_errors({**good, "model": {"path": "m", "device": "cuda"}}))
    assert not list(args_validator("build_tiny_model").iter_errors({"out": "x", "layers": 2}))


def test_extract_op_end_to_end_and_model_cached(tiny_model_dir: Path, video_dir: Path, tmp_path: Path) -> None:
    progress: list[dict[str, Any]] = []
    ctx = _ctx(progress)
    args = {
        "store": str(tmp_path / "st"), "key": "k", "dataset": "syn", "shard": 1, "num_shards": 2,
        "items": [{"item": f"v{i}", "video": str(video_dir / f"v{i}.mp4"), "title": "t"} for i in range(3)],
        "model": {"path": str(tiny_model_dir), "dtype": "float32"},
        "extract": {"frames": 4, "merged_tokens": 3, "max_new_tokens": 2, "batch_size": 2, "prompts": ["Describe."]},
    }
    out = extract_op(args, {}, ctx)
    assert out.result["extracted"] == 3 and out.result["rows"] == 3
    assert not (tmp_path / "st" / "manifest.json").exists()  # built once, by finalize_store
    assert progress[-1]["done"] == 3 and progress[-1]["total"] == 3 and progress[-1]["unit"] == "items"
    backbone = next(iter(ctx.state["extract.backbones"].values()))
    extract_op({**args, "shard": 0, "items": [{"item": "v5", "video": str(video_dir / "v5.mp4")}]}, {}, ctx)
    assert next(iter(ctx.state["extract.backbones"].values())) is backbone  # not reloaded
    with pytest.raises(OpError, match="not in the item list"):
        finalize_store_op({"store": str(tmp_path / "st"), "items": ["v0", "v1", "v2"]}, {}, ctx)
    done = finalize_store_op({"store": str(tmp_path / "st"), "items": ["v0", "v1", "v2", "v5"]}, {}, ctx)
    assert done.result["complete"] and done.result["num_shards"] == 2 and done.result["items"] == 4
    store = TokenStore.open(tmp_path / "st")
    assert store.items == ["v0", "v1", "v2", "v5"] and store.complete and store.new_tokens == 1


def test_op_errors_are_clear(tmp_path: Path, tiny_model_dir: Path) -> None:
    ctx = _ctx([])
    with pytest.raises(OpError, match="model.path"):
        extract_op({"store": str(tmp_path), "key": "k", "shard": 0, "num_shards": 1, "items": [],
                    "model": {"path": str(tmp_path / "none")}}, {}, ctx)
    with pytest.raises(OpError, match="max_new_tokens"):
        extract_op({"store": str(tmp_path), "key": "k", "shard": 0, "num_shards": 1, "items": [],
                    "model": {"path": str(tiny_model_dir)}, "extract": {"max_new_tokens": 1}}, {}, ctx)
    with pytest.raises(OpError, match="hidden=30"):
        build_tiny_model_op({"out": str(tmp_path / "m"), "hidden": 30}, {}, ctx)
