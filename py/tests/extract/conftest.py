"""Fixtures for the extraction tests: the tiny backbone loaded once, a few rendered videos."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from linkedout.data.render import RenderSettings, VideoSpec, render_videos
from linkedout.extract.backbone import Backbone, load_backbone

SHAPES = ["circle", "square", "triangle", "ring", "cross", "diamond"]
MOTIONS = ["left_right", "up_down", "orbit", "diagonal", "zoom", "spin"]


@pytest.fixture(scope="session", autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_backbone(tiny_model_dir: Path) -> Backbone:
    return load_backbone(str(tiny_model_dir), dtype="float32", device="cpu")


@pytest.fixture(scope="session")
def video_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v0..v5.mp4: 2 s, 8 fps, 64x64 synthetic clips with different colours, shapes and motions."""
    d = tmp_path_factory.mktemp("videos")
    specs = [
        VideoSpec(f"v{i}", (20 + 37 * i, 200 - 30 * i, 90), (250, 250 - 40 * i, 40 * i), SHAPES[i], MOTIONS[i],  # type: ignore[arg-type]
                  0.15 + 0.03 * i, 10.0 * i, 1.0, 0.1 * i, 2.0, 4.0, i)
        for i in range(6)
    ]
    render_videos(specs, d, d / "covers", RenderSettings())
    return d
