"""The Ray engine sizes its actors from what the cluster has (ray.cluster_resources())."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
import torch

from linkedout.cluster.ray_launcher import actor_count

PY_ROOT = Path(__file__).resolve().parents[2]


def test_one_actor_per_gpu_as_many_as_the_cluster_holds() -> None:
    box = {"CPU": 96.0, "GPU": 8.0, "memory": 1e12}
    assert actor_count(box, 1.0, 1.0, 310) == 8  # an 8-GPU box runs 8 shards at once (not 2)
    assert actor_count(box, 0.5, 1.0, 310) == 16  # two actors share each GPU
    assert actor_count(box, 2.0, 1.0, 310) == 4
    assert actor_count(box, 1.0, 1.0, 3) == 3  # no more actors than unfinished shards
    assert actor_count({"CPU": 4.0, "GPU": 8.0}, 1.0, 1.0, 310) == 4  # each actor needs its CPUs too
    assert actor_count({"CPU": 16.0, "GPU": 8.0}, 1.0, 0.0, 310) == 8


def test_cpu_only_clusters_and_what_does_not_fit() -> None:
    assert actor_count({"CPU": 2.0}, 0.0, 1.0, 4) == 2
    assert actor_count({"CPU": 64.0}, 0.0, 8.0, 100) == 8
    assert actor_count({"CPU": 3.0, "GPU": 0.0}, 0.0, 1.5, 100) == 2
    assert actor_count({"CPU": 8.0, "GPU": 1.0}, 2.0, 1.0, 10) == 0  # not even one actor: the launcher says so
    assert actor_count({"CPU": 1.0}, 0.0, 2.0, 10) == 0


def _launch(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], list[dict[str, object]]]:
    """The launcher on a real private Ray cluster, over 3 items whose model does not exist."""
    cfg = tmp_path / "resolved.yaml"
    cfg.write_text(f"model:\n  path: {tmp_path / 'no-such-model'}\nextract:\n  frames: 4\n  shard_size: 2\n")
    items = tmp_path / "items.arrow"
    t = pa.table({"item": ["a", "b", "c"], "video": ["", "", ""]})
    with pa.OSFile(str(items), "wb") as f, pa.ipc.new_file(f, t.schema) as w:
        w.write_table(t)
    env = {**os.environ, "PYTHONPATH": str(PY_ROOT), "RAY_USAGE_STATS_ENABLED": "0"}
    p = subprocess.run([sys.executable, "-m", "linkedout.cluster.ray_launcher", "--config", str(cfg), "--items", str(items),
                        "--store", str(tmp_path / "store"), "--key", "k", "--dataset", "d", *args],
                       env=env, capture_output=True, text=True, timeout=600)
    return p, [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]


def test_a_cluster_too_small_for_one_actor_is_one_line_before_any_work(tmp_path: Path) -> None:
    """A real private Ray cluster of 2 CPUs and actors of 4 CPUs: the launcher says so and exits 2."""
    pytest.importorskip("ray")
    p, events = _launch(tmp_path, "--local-cpus", "2", "--cpus-per-shard", "4")
    assert p.returncode == 2, p.stderr[-2000:]
    assert events == [{"event": "error", "message": "extract.ray: one actor needs 0 GPU(s) and 4 CPU(s) (gpus_per_shard, cpus_per_shard); the cluster has 0 GPU(s) and 2 CPU(s)"}]
    assert not any((tmp_path / "store").glob("shard-*"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="shows the stop on a host where torch cannot use CUDA")
def test_an_actor_given_a_gpu_torch_cannot_use_stops_the_run_naming_build_and_driver(tmp_path: Path) -> None:
    """A private Ray cluster that offers 1 GPU on a host where torch cannot use it: the actor Ray gives it
    to stops the run with one line (torch's CUDA build, the driver), before any model load or shard file."""
    pytest.importorskip("ray")
    p, events = _launch(tmp_path, "--local-cpus", "2", "--local-gpus", "1")
    assert p.returncode == 1, p.stderr[-2000:]
    assert events[0]["event"] == "start" and events[0]["gpus_per_shard"] == 1.0 and events[0]["actors"] == 1
    last = events[-1]
    assert last["event"] == "error"
    msg = str(last["message"])
    assert "\n" not in msg
    assert re.match(r"shard \d+: Ray actor pid \d+@\S+: a GPU was asked for but torch cannot use it: ", msg), msg
    build = f"torch {torch.__version__} built for CUDA {torch.version.cuda}" if torch.version.cuda else f"torch {torch.__version__} has no CUDA build"
    assert build in msg and ("driver " in msg or "no NVIDIA driver found" in msg or "nvidia-smi failed" in msg)
    assert msg.endswith("(extract.ray.gpus_per_shard: 0 runs on CPUs on purpose)")
    assert not any((tmp_path / "store").glob("shard-*"))
