"""Synthetic video rendering: determinism, visible topic structure, resumability, atomic writes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from linkedout.data.render import (
    MOTIONS,
    SHAPES,
    RenderSettings,
    VideoSpec,
    decode_frames,
    frame_count,
    render_frames,
    render_videos,
)

RED_ORBIT = VideoSpec("7", (200, 40, 40), (255, 255, 255), "triangle", "orbit", 0.2, 10.0, 1.0, 0.3, 3.0, 6.0, 7)
BLUE_SLIDE = VideoSpec("8", (30, 60, 210), (250, 240, 40), "circle", "left_right", 0.18, 0.0, 1.0, 0.0, 2.0, 6.0, 8)


def _sha(a: np.ndarray) -> str:
    return hashlib.sha256(a.tobytes()).hexdigest()


@pytest.mark.parametrize("codec", ["libx264", "mpeg4"])
def test_same_spec_decodes_to_identical_frames(tmp_path: Path, codec: str) -> None:
    settings = RenderSettings(codec=codec)
    for run in ("a", "b"):
        render_videos([RED_ORBIT, BLUE_SLIDE], tmp_path / run / "v", tmp_path / run / "c", settings)
    for item in ("7", "8"):
        a = decode_frames(tmp_path / "a" / "v" / f"{item}.mp4")
        b = decode_frames(tmp_path / "b" / "v" / f"{item}.mp4")
        assert _sha(a) == _sha(b)
        assert (tmp_path / "a" / "c" / f"{item}.jpg").read_bytes() == (tmp_path / "b" / "c" / f"{item}.jpg").read_bytes()
    # 3 s at 8 fps and 2 s at 8 fps; 64x64 RGB
    assert decode_frames(tmp_path / "a" / "v" / "7.mp4").shape == (24, 64, 64, 3)
    assert decode_frames(tmp_path / "a" / "v" / "8.mp4").shape == (16, 64, 64, 3)


def test_decoded_video_shows_the_topic_colour_and_the_shape_moves(tmp_path: Path) -> None:
    render_videos([BLUE_SLIDE], tmp_path / "v", tmp_path / "c")
    frames = decode_frames(tmp_path / "v" / "8.mp4").astype(np.float32)  # [T, H, W, 3]
    # The background colour dominates the clip: the median pixel is near (30, 60, 210) (lossy codec, noise).
    median = np.median(frames.reshape(-1, 3), axis=0)
    assert np.all(np.abs(median - np.array([30, 60, 210])) < 20), median
    # The yellow circle is a bright-red-channel blob; its x centroid sweeps left to right and back.
    xs = []
    for f in frames:
        ys_, xs_ = np.nonzero(f[..., 0] > 150)
        assert len(xs_) > 30  # the shape is visible in every frame
        xs.append(xs_.mean())
    assert xs[0] < 20 and max(xs) > 44 and xs[-1] < 30, xs
    cover = np.asarray(Image.open(tmp_path / "c" / "8.jpg"))
    assert cover.shape == (64, 64, 3)
    assert np.abs(np.median(cover.reshape(-1, 3), axis=0) - np.array([30, 60, 210])).max() < 20


def test_every_shape_and_motion_renders_differently() -> None:
    settings = RenderSettings()
    base = dict(item="x", background=(0, 0, 0), foreground=(255, 255, 255), size=0.25, angle=0.0, speed=1.0,
                phase=0.1, seconds=1.0, noise=0.0, seed=0)
    by_shape = {s: _sha(render_frames(VideoSpec(shape=s, motion="zoom", **base), settings)) for s in SHAPES}  # type: ignore[arg-type]
    by_motion = {m: _sha(render_frames(VideoSpec(shape="square", motion=m, **base), settings)) for m in MOTIONS}  # type: ignore[arg-type]
    assert len(set(by_shape.values())) == len(SHAPES)
    assert len(set(by_motion.values())) == len(MOTIONS)
    # Filled area of a circle of radius 0.25*64 = 16 px at zoom scale 0.5+sweep(0.1): about pi*r^2.
    frames = render_frames(VideoSpec(shape="circle", motion="left_right", **base), settings)  # type: ignore[arg-type]
    assert frame_count(VideoSpec(shape="circle", motion="left_right", **base), settings) == 8  # type: ignore[arg-type]
    area = (frames[0, ..., 0] > 127).sum()
    assert abs(area - np.pi * 16**2) < 0.05 * np.pi * 16**2


def test_existing_items_are_skipped_unless_overwrite(tmp_path: Path) -> None:
    v, c = tmp_path / "v", tmp_path / "c"
    first = render_videos([RED_ORBIT], v, c)
    assert (first.rendered, first.skipped) == (1, 0)
    mtime = (v / "7.mp4").stat().st_mtime_ns
    seen: list[tuple[int, int]] = []
    again = render_videos([RED_ORBIT, BLUE_SLIDE], v, c, progress=lambda d, t: seen.append((d, t)))
    assert (again.rendered, again.skipped) == (1, 1)
    assert (v / "7.mp4").stat().st_mtime_ns == mtime
    assert seen == [(1, 2), (2, 2)]
    assert again.bytes == (v / "7.mp4").stat().st_size + (v / "8.mp4").stat().st_size
    forced = render_videos([RED_ORBIT], v, c, overwrite=True)
    assert (forced.rendered, forced.skipped) == (1, 0)
    assert not [p for p in v.iterdir() if p.name.startswith(".")]  # no temp files left behind


def test_bad_item_ids_and_odd_sizes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="spec 0: item id '../x'"):
        render_videos([VideoSpec("../x", *list(RED_ORBIT.__dict__.values())[1:])], tmp_path / "v", tmp_path / "c")
    with pytest.raises(ValueError, match="even"):
        render_videos([RED_ORBIT], tmp_path / "v", tmp_path / "c", RenderSettings(width=63))
