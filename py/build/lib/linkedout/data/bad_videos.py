"""Deliberately broken video files, for tests of frame decoding and extraction error handling.

Extraction must report unreadable videos per item and carry on (issue #3, "Must show"). The synthetic
dataset never writes broken files by itself; tests call `write_bad_videos` on a copy of a videos
directory to get one item of each kind of damage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import av
import numpy as np

from .render import RenderSettings, VideoSpec, encode_mp4, render_frames

BadVideoKind = Literal["zero_length", "truncated", "garbage", "missing", "no_video_stream"]

BAD_VIDEO_KINDS: tuple[BadVideoKind, ...] = ("zero_length", "truncated", "garbage", "missing", "no_video_stream")


def _good_video_bytes(tmp: Path) -> bytes:
    spec = VideoSpec("bad", (30, 160, 90), (250, 250, 250), "circle", "left_right", 0.2, 0.0, 1.0, 0.0, 2.0, 4.0, 1)
    settings = RenderSettings()
    encode_mp4(render_frames(spec, settings), tmp, settings)
    data = tmp.read_bytes()
    tmp.unlink()
    return data


def _audio_only_mp4(path: Path) -> None:
    """A well-formed .mp4 that holds one second of silence and no video stream."""
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("aac", rate=16000)
        samples = np.zeros((1, 1024), dtype=np.float32)
        for i in range(16):
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate = 16000
            frame.pts = i * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_bad_videos(videos_dir: Path | str, prefix: str = "bad_") -> dict[str, BadVideoKind]:
    """Create one broken `<item>.mp4` per kind in `videos_dir` and return {item id: kind}.

    - ``zero_length``: an empty file;
    - ``truncated``: the first third of a valid mp4 (the moov atom at the end is cut off);
    - ``garbage``: 4 KiB of deterministic random bytes named .mp4;
    - ``missing``: the item id is returned but no file is written (the loader's "pairs item with no
      video file" case, or a file deleted after loading);
    - ``no_video_stream``: a valid mp4 container holding only an audio stream.

    Item ids are ``<prefix><kind>`` (e.g. ``bad_truncated``), so they never collide with numeric ids.
    """
    videos_dir = Path(videos_dir)
    videos_dir.mkdir(parents=True, exist_ok=True)
    good = _good_video_bytes(videos_dir / f".{prefix}good.tmp.mp4")
    kinds: dict[str, BadVideoKind] = {}
    for kind in BAD_VIDEO_KINDS:
        item = f"{prefix}{kind}"
        path = videos_dir / f"{item}.mp4"
        if kind == "zero_length":
            path.write_bytes(b"")
        elif kind == "truncated":
            path.write_bytes(good[: len(good) // 3])
        elif kind == "garbage":
            path.write_bytes(np.random.Generator(np.random.PCG64(1234)).integers(0, 256, 4096, dtype=np.uint8).tobytes())
        elif kind == "missing":
            path.unlink(missing_ok=True)
        elif kind == "no_video_stream":
            _audio_only_mp4(path)
        kinds[item] = kind
    return kinds
