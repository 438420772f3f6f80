"""Shared pytest fixtures (session-scoped: expensive things are built once per test run)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no test reaches for the Hugging Face hub


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random LLaVA-OneVision saved with save_pretrained (linkedout.extract.tiny_model):
    hidden 64, 8 decoder layers, 32x32 frames -> 4 video tokens per frame. Load it with
    linkedout.extract.backbone.load_backbone(str(path))."""
    from linkedout.extract.tiny_model import build_tiny_model

    out = tmp_path_factory.mktemp("tiny-llava-ov")
    build_tiny_model(out, hidden=64, layers=8, image_size=32, seed=0)
    return out
