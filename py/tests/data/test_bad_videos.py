"""write_bad_videos: every kind of damage is really undecodable (and a good video next to them is fine)."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from linkedout.data.bad_videos import BAD_VIDEO_KINDS, write_bad_videos
from linkedout.data.render import VideoSpec, decode_frames, render_videos

BLUE_SLIDE = VideoSpec("8", (30, 60, 210), (250, 240, 40), "circle", "left_right", 0.18, 0.0, 1.0, 0.0, 2.0, 6.0, 8)


def test_each_bad_video_fails_to_decode_and_the_good_one_decodes(tmp_path: Path) -> None:
    render_videos([BLUE_SLIDE], tmp_path, tmp_path / "covers")
    kinds = write_bad_videos(tmp_path)
    assert sorted(kinds.values()) == sorted(BAD_VIDEO_KINDS)
    assert kinds["bad_truncated"] == "truncated"
    assert not (tmp_path / "bad_missing.mp4").exists()
    assert (tmp_path / "bad_zero_length.mp4").stat().st_size == 0
    for item, kind in kinds.items():
        path = tmp_path / f"{item}.mp4"
        expected = FileNotFoundError if kind == "missing" else (av.error.InvalidDataError, ValueError)
        with pytest.raises(expected):
            decode_frames(path)
    assert decode_frames(tmp_path / "8.mp4").shape == (16, 64, 64, 3)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_bad_videos_are_deterministic(tmp_path: Path) -> None:
    write_bad_videos(tmp_path / "a")
    write_bad_videos(tmp_path / "b")
    for name in ("bad_garbage.mp4", "bad_truncated.mp4"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
