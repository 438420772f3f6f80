"""The `render_videos` op handler: JSON specs in, files + counts + progress out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import torch

from linkedout.data.ops import render_videos_op
from linkedout.data.render import decode_frames
from linkedout.protocol.op import OpContext, OpError

SCHEMA = json.loads((Path(__file__).parents[3] / "schemas/protocol/ops/render_videos.args.schema.json").read_text())


def _args(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "videos_dir": str(tmp_path / "MicroLens-synth_videos"),
        "covers_dir": str(tmp_path / "MicroLens-synth_covers"),
        "specs": [
            {"item": "1", "background": [220, 30, 30], "foreground": [255, 255, 255], "shape": "cross",
             "motion": "spin", "size": 0.25, "seconds": 2.0},
            {"item": "2", "background": [20, 200, 40], "foreground": [0, 0, 0], "shape": "ring",
             "motion": "up_down", "size": 0.2, "seconds": 3.5, "speed": 2.0, "phase": 0.25, "noise": 4, "seed": 9},
        ],
        **extra,
    }


def test_op_renders_files_reports_counts_and_progress(tmp_path: Path) -> None:
    args = _args(tmp_path, fps=6)
    jsonschema.validate(args, SCHEMA)
    progress: list[dict[str, Any]] = []
    ctx = OpContext(torch.device("cpu"), {}, progress_sink=progress.append, min_progress_interval_s=0.0)
    out = render_videos_op(args, {}, ctx)
    assert out.result["rendered"] == 2 and out.result["skipped"] == 0
    videos = tmp_path / "MicroLens-synth_videos"
    assert out.result["bytes"] == sum(p.stat().st_size for p in videos.glob("*.mp4"))
    # 2 s and 3.5 s at 6 fps -> 12 and 21 frames; defaults: 64x64
    assert decode_frames(videos / "1.mp4").shape == (12, 64, 64, 3)
    assert decode_frames(videos / "2.mp4").shape == (21, 64, 64, 3)
    assert (tmp_path / "MicroLens-synth_covers" / "2.jpg").stat().st_size > 0
    assert progress[-1] == {"done": 2, "total": 2, "unit": "videos", "message": ""}
    again = render_videos_op(args, {}, ctx)
    assert again.result["rendered"] == 0 and again.result["skipped"] == 2


def test_schema_rejects_unknown_keys_and_bad_specs(tmp_path: Path) -> None:
    bad_key = _args(tmp_path, colour="red")
    with pytest.raises(jsonschema.ValidationError, match="colour"):
        jsonschema.validate(bad_key, SCHEMA)
    bad_shape = _args(tmp_path)
    bad_shape["specs"][0]["shape"] = "hexagon"
    with pytest.raises(jsonschema.ValidationError, match="hexagon"):
        jsonschema.validate(bad_shape, SCHEMA)
    odd = _args(tmp_path, width=63)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(odd, SCHEMA)


def test_renderer_errors_become_op_errors(tmp_path: Path) -> None:
    args = _args(tmp_path)
    args["specs"][0]["item"] = ".hidden"  # the schema forbids this; the handler refuses it too
    with pytest.raises(OpError, match="cannot be a file name"):
        render_videos_op(args, {}, OpContext(torch.device("cpu"), {}))
