"""frames: uniform sampling with PyAV; every kind of bad video is a typed failure with a reason."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from linkedout.data.bad_videos import write_bad_videos
from linkedout.extract.frames import BadVideo, sample_frames, uniform_indices


def test_uniform_indices() -> None:
    assert uniform_indices(16, 4).tolist() == [0, 5, 10, 15]
    assert uniform_indices(3, 5).tolist() == [0, 0, 1, 2, 2]  # fewer frames than wanted: repeats
    assert uniform_indices(10, 1).tolist() == [0]
    with pytest.raises(ValueError):
        uniform_indices(0, 4)


def test_sampled_frames_are_the_decoded_frames_at_uniform_indices(video_dir: Path) -> None:
    path = video_dir / "v2.mp4"
    with av.open(str(path)) as c:
        every = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(every) == 16  # 2 s at 8 fps
    for t in (1, 4, 8, 20):
        got = sample_frames(path, t)
        assert got.shape == (t, 64, 64, 3) and got.dtype == np.uint8
        want = np.stack([every[i] for i in uniform_indices(len(every), t)])
        assert np.array_equal(got, want)
    # frames differ over time (the shape moves), so the index choice matters
    assert not np.array_equal(every[0], every[8])


def test_seeking_gives_the_same_frames_as_decoding_from_the_start(tmp_path: Path) -> None:
    from linkedout.data.render import RenderSettings, VideoSpec, render_videos

    spec = VideoSpec("long", (40, 90, 200), (250, 240, 10), "square", "orbit", 0.2, 0.0, 3.0, 0.0, 7.0, 8.0, 3)
    render_videos([spec], tmp_path, tmp_path / "covers", RenderSettings())
    path = tmp_path / "long.mp4"
    with av.open(str(path)) as c:
        n = c.streams.video[0].frames
        keyframes = sum(f.key_frame for f in c.decode(video=0))
    assert n == 56 and keyframes > 2  # several GOPs: seeking has to land on the right one
    for t in (3, 5, 8):
        assert np.array_equal(sample_frames(path, t, seek=True), sample_frames(path, t, seek=False))
    assert np.array_equal(sample_frames(path, 5), sample_frames(path, 5, seek=False))  # 56 > 8·5: seeks by default


def test_each_bad_video_kind_fails_with_its_reason(tmp_path: Path) -> None:
    kinds = write_bad_videos(tmp_path)
    expected = {"zero_length": "zero_length", "truncated": "corrupt", "garbage": "corrupt",
                "missing": "missing", "no_video_stream": "no_video_stream"}
    for item, kind in kinds.items():
        path = tmp_path / f"{item}.mp4"
        with pytest.raises(BadVideo) as err:
            sample_frames(path, 4)
        assert err.value.kind == expected[kind], item
        assert str(path) in err.value.reason
    with pytest.raises(BadVideo, match="no video path"):
        sample_frames("", 4)


def test_an_image_named_mp4_is_not_a_video(tmp_path: Path) -> None:
    """Issue 22: FFmpeg opens a PNG or JPEG as a one-frame stream; it must fail its item instead."""
    from PIL import Image

    for fmt, demuxer in (("PNG", "png_pipe"), ("JPEG", "jpeg_pipe"), ("GIF", "gif")):
        path = tmp_path / f"{fmt}.mp4"
        Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(path, format=fmt)
        with pytest.raises(BadVideo) as err:
            sample_frames(path, 4)
        assert err.value.kind == "not_video"
        assert err.value.reason == f"not_video: {path} (an image ({demuxer}), not a video container)"
