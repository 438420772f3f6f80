"""A GPU asked for but unusable stops the shard at once, with one line naming torch's CUDA build and the driver."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
import torch

from linkedout.extract.device import DeviceError, resolve_device

PY_ROOT = Path(__file__).resolve().parents[2]
NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="shows the stop on a host where torch cannot use CUDA")


def _shard(tmp_path: Path, device: str | None, visible: str | None) -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "resolved.yaml"
    cfg.write_text(f"model:\n  path: {tmp_path / 'no-such-model'}\nextract:\n  frames: 4\n")
    items = tmp_path / "items.arrow"
    t = pa.table({"item": ["a"], "video": [""]})
    with pa.OSFile(str(items), "wb") as f, pa.ipc.new_file(f, t.schema) as w:
        w.write_table(t)
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    env["PYTHONPATH"] = str(PY_ROOT)
    if visible is not None:
        env["CUDA_VISIBLE_DEVICES"] = visible
    args = [sys.executable, "-m", "linkedout.extract", "--config", str(cfg), "--items", str(items), "--store", str(tmp_path / "s"),
            "--shard", "0", "--of", "1"] + (["--device", device] if device else [])
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)


def _expect_stop(p: subprocess.CompletedProcess[str], device: str) -> None:
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr  # one line, no traceback
    line = lines[0]
    assert line.startswith(f"linkedout.extract: --device {device}: a GPU was asked for but torch cannot use it: ")
    build = f"torch {torch.__version__} built for CUDA {torch.version.cuda}" if torch.version.cuda else f"torch {torch.__version__} has no CUDA build"
    assert build in line
    assert "driver " in line or "no NVIDIA driver found" in line or "nvidia-smi failed" in line


@NO_GPU
def test_device_cuda_without_a_usable_gpu_stops_before_any_work(tmp_path: Path) -> None:
    p = _shard(tmp_path, "cuda", None)
    _expect_stop(p, "cuda")
    assert not (tmp_path / "s").exists()  # stopped before the store was touched


@NO_GPU
def test_auto_on_a_host_whose_scheduler_gave_it_a_gpu_stops_too(tmp_path: Path) -> None:
    _expect_stop(_shard(tmp_path, None, "0"), "auto")  # SLURM --gres=gpu:1 / a K8s GPU pod sets CUDA_VISIBLE_DEVICES


@NO_GPU
def test_auto_on_a_host_without_gpu_runs_on_the_cpu(tmp_path: Path) -> None:
    if any(Path("/dev").glob("nvidia[0-9]*")):
        pytest.skip("this host has NVIDIA device nodes: auto asks for its GPU")
    p = _shard(tmp_path, None, None)
    # past the device check: it goes on to load the (missing) model on the CPU
    assert p.returncode == 2 and "model.path" in p.stderr and "GPU" not in p.stderr
    assert resolve_device("auto") == "cpu"


def test_device_names() -> None:
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(DeviceError, match=r"^--device gpu: not one of auto, cpu, cuda, cuda:N$"):
        resolve_device("gpu")
