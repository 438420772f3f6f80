"""A committed shard returns before any model is loaded (a requeued 7B task would load 16 GB for nothing)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pytest

from linkedout.extract.work_unit import WorkUnitError, load_job, read_items, run_shard, shard_members

PY_ROOT = Path(__file__).resolve().parents[2]


def _inputs(tmp_path: Path, model: Path | str, video_dir: Path) -> tuple[Path, Path]:
    cfg = tmp_path / f"resolved-{Path(model).name}.yaml"
    cfg.write_text(f"model:\n  path: {model}\n  dtype: float32\nextract:\n  frames: 4\n  merged_tokens: 4\n  max_new_tokens: 3\n"
                   "  batch_size: 4\n  tap_every: 4\n  prompts: ['Describe this video.']\nworkers:\n  threads: 1\n")
    items = tmp_path / "items.arrow"
    if not items.exists():
        ids = [f"v{i}" for i in range(6)]
        t = pa.table({"item": ids, "video": [str(video_dir / f"{i}.mp4") for i in ids], "title": [f"clip {i}" for i in ids]})
        with pa.OSFile(str(items), "wb") as f, pa.ipc.new_file(f, t.schema) as w:
            w.write_table(t)
    return cfg, items


def test_a_committed_shard_returns_without_loading_the_model(tiny_model_dir: Path, video_dir: Path, tmp_path: Path) -> None:
    cfg, items_path = _inputs(tmp_path, tiny_model_dir, video_dir)
    job, items = load_job(cfg), read_items(items_path)
    store = tmp_path / "store"
    members = shard_members([it["item"] for it in items], 2, 0)
    assert members  # shard 0 of 2 has items to extract
    first = run_shard(job, items, store, 0, 2, "k", "d")
    assert (first.extracted, first.skipped, first.items) == (len(members), 0, len(members))

    # the same job with a model that cannot be loaded: shard 1, not committed, needs it and fails ...
    missing = tmp_path / "no-such-model"
    gone = replace(job, model_path=str(missing))
    with pytest.raises(WorkUnitError, match="no-such-model"):
        run_shard(gone, items, store, 1, 2, "k", "d")
    # ... while committed shard 0 returns done without touching the model
    seen: list[str] = []
    again = run_shard(gone, items, store, 0, 2, "k", "d", progress=lambda d, t, m: seen.append(m))
    assert (again.extracted, again.skipped, again.items, again.rows) == (0, len(members), len(members), first.rows)
    assert seen == [f"shard 0: already committed, {len(members)} already done"]

    # the command line a requeued SLURM task runs: exit 0, nothing extracted
    bad_cfg, _ = _inputs(tmp_path, missing, video_dir)
    env = {**os.environ, "PYTHONPATH": str(PY_ROOT)}
    cmd = [sys.executable, "-m", "linkedout.extract", "--config", str(bad_cfg), "--items", str(items_path), "--store", str(store),
           "--of", "2", "--device", "cpu", "--key", "k", "--dataset", "d", "--shard"]
    done = subprocess.run([*cmd, "0"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == f"shard 0/2: 0 extracted, {len(members)} already done, 0 failed"
    todo = subprocess.run([*cmd, "1"], env=env, capture_output=True, text=True, timeout=300)
    assert todo.returncode == 2 and "no-such-model" in todo.stderr
