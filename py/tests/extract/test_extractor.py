"""extract_shard: bad videos fail with reasons while the rest is extracted; a SIGKILLed shard resumes
to the same bytes; retry_failed re-attempts only the failed items."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from linkedout.data.bad_videos import write_bad_videos
from linkedout.extract.backbone import Backbone
from linkedout.extract.extractor import ExtractSettings, Extractor, extract_shard
from linkedout.store.token_store import TokenStore

SETTINGS = dict(frames=4, tap_every=4, merged_tokens=5, max_new_tokens=3, batch_size=4,
                prompts=["Describe this video.", "What is the topic?"], side_channels=["title"])


@pytest.fixture()
def catalogue(video_dir: Path, tmp_path: Path) -> list[dict[str, str]]:
    vids = tmp_path / "videos"
    shutil.copytree(video_dir, vids)
    bad = write_bad_videos(vids)
    items = [{"item": f"v{i}", "video": str(vids / f"v{i}.mp4"), "title": f"clip number {i}" * (i + 1)} for i in range(6)]
    items += [{"item": b, "video": str(vids / f"{b}.mp4"), "title": ""} for b in sorted(bad)]
    return sorted(items, key=lambda it: it["item"])


def _run(backbone: Backbone, store: Path, items: list[dict[str, str]], **kw: object):
    ex = Extractor(backbone, ExtractSettings.from_json(SETTINGS))
    return extract_shard(ex, str(store), key="k", dataset="synthetic", items=items, shard=0, num_shards=1, **kw)  # type: ignore[arg-type]


def test_bad_videos_fail_with_reasons_others_are_extracted(tiny_backbone: Backbone, catalogue: list[dict[str, str]], tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    report = _run(tiny_backbone, tmp_path / "st", catalogue, progress=lambda d, t, m: seen.append((d, t)))
    assert report.extracted == 6 and report.skipped == 0
    reasons = {f["item"]: f["reason"] for f in report.failed}
    assert set(reasons) == {"bad_garbage", "bad_missing", "bad_no_video_stream", "bad_truncated", "bad_zero_length"}
    assert reasons["bad_zero_length"].startswith("zero_length:") and reasons["bad_missing"].startswith("missing:")
    assert reasons["bad_garbage"].startswith("corrupt:") and reasons["bad_no_video_stream"].startswith("no_video_stream:")
    assert seen[-1] == (11, 11) and seen[0] == (0, 11)

    store = TokenStore.open(tmp_path / "st", verify=True)
    assert store.items == [f"v{i}" for i in range(6)]
    assert store.taps == [0, 4, 7] and store.configured_taps == [0, 4] and store.new_tokens == 2 and store.merged_tokens == 5
    assert {f["item"] for f in store.failed} == set(reasons)
    om = store.get("old_merged", range(6))
    assert om.shape == (6, 2, 3, 5, 64) and om.dtype == torch.bfloat16
    assert torch.isfinite(om.float()).all()
    n_old = store.get("n_old", range(6))
    sizes = store.get("old_merged_size", range(6))
    assert torch.equal(sizes.sum(-1), n_old[:, :, None].float().expand(-1, -1, 3))  # merge keeps every token
    assert len(set(n_old[:, 0].tolist())) > 1  # titles of different length
    # different prompts give different features for the same video
    assert not torch.equal(store.get("old_last", [0])[0, 0], store.get("old_last", [0])[0, 1])
    # rerun: nothing to do, the same bytes
    before = (tmp_path / "st" / "shard-0.arrow").read_bytes()
    again = _run(tiny_backbone, tmp_path / "st", catalogue)
    assert again.extracted == 0 and again.skipped == 11
    assert (tmp_path / "st" / "shard-0.arrow").read_bytes() == before


def test_retry_failed_reattempts_only_failed_items(tiny_backbone: Backbone, catalogue: list[dict[str, str]], tmp_path: Path) -> None:
    _run(tiny_backbone, tmp_path / "st", catalogue)
    # repair one bad video by copying a good clip over it
    fixed = next(it for it in catalogue if it["item"] == "bad_truncated")
    shutil.copy(next(it for it in catalogue if it["item"] == "v1")["video"], fixed["video"])
    assert _run(tiny_backbone, tmp_path / "st", catalogue).extracted == 0  # failures are not retried by default
    report = _run(tiny_backbone, tmp_path / "st", catalogue, retry_failed=True)
    assert report.extracted == 1 and report.skipped == 6
    store = TokenStore.open(tmp_path / "st")
    assert "bad_truncated" in store.items and len(store.failed) == 4


_CHILD = """
import os, signal, sys, json, torch
torch.set_num_threads(1)
from linkedout.extract.backbone import load_backbone
from linkedout.extract.extractor import ExtractSettings, Extractor, extract_shard
model, store, items, settings = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
ex = Extractor(load_backbone(model, dtype="float32"), ExtractSettings.from_json(settings))
def progress(done, total, msg):
    if done >= 4:  # two batches of two items are on disk: die mid-shard
        os.kill(os.getpid(), signal.SIGKILL)
extract_shard(ex, store, key="k", dataset="synthetic", items=items, shard=0, num_shards=1, progress=progress)
"""


def test_sigkill_mid_shard_then_resume_equals_uninterrupted(
    tiny_backbone: Backbone, tiny_model_dir: Path, catalogue: list[dict[str, str]], tmp_path: Path
) -> None:
    good = [it for it in catalogue if not it["item"].startswith("bad_")]
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tiny_model_dir), str(tmp_path / "killed"), json.dumps(good), json.dumps(SETTINGS)],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        capture_output=True, timeout=120,
    )
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    parts = sorted(p.name for p in (tmp_path / "killed").glob("shard-0.part-*.arrow"))
    assert parts == ["shard-0.part-0.arrow", "shard-0.part-1.arrow"] and not (tmp_path / "killed" / "shard-0.arrow").exists()

    resumed = _run(tiny_backbone, tmp_path / "killed", good)
    assert resumed.skipped == 4 and resumed.extracted == 2
    _run(tiny_backbone, tmp_path / "clean", good)
    a, b = TokenStore.open(tmp_path / "killed"), TokenStore.open(tmp_path / "clean")
    assert a.items == b.items == [f"v{i}" for i in range(6)]
    for kind in ("old_merged", "old_merged_size", "new", "old_mean", "old_last", "new_last", "n_old"):
        assert torch.equal(a.get(kind, range(6)), b.get(kind, range(6))), kind
    # same fixed batches, same process-independent math: the shard files are byte-identical
    assert (tmp_path / "killed" / "shard-0.arrow").read_bytes() == (tmp_path / "clean" / "shard-0.arrow").read_bytes()
