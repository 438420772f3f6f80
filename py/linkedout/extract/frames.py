"""Decoding T uniformly spaced frames of a video with PyAV (paper §3.1: "a video v is sampled into
frames {x_t}, t = 1..T").

``sample_frames(path, T)`` returns ``uint8 [T, H, W, 3]`` RGB, the layout the LLaVA-OneVision video
processor takes. A video that cannot give frames raises ``BadVideo`` with a short machine-readable
``kind`` and a human reason naming the file; extraction records it as the item's failure and carries
on with the other items.

Sampling: frame indices ``round(linspace(0, n-1, T))`` over the decoded frame count ``n``; a video
with fewer than T frames repeats frames (the same rule), so every item has exactly T frames and the
token layout is identical across items. Decoding stops after the last needed frame.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import av
import numpy as np

BadVideoKind = Literal["missing", "zero_length", "corrupt", "not_video", "no_video_stream", "no_frames"]

# FFmpeg demuxers that read still images (``png_pipe``, ``jpeg_pipe``, ... and ``image2``) or image
# formats (GIF, APNG): FFmpeg opens such a file as a one-frame "video", but a PNG named .mp4 is not a
# video (docs/data.md), so it fails its item instead of becoming T copies of one picture.
_IMAGE_DEMUXERS = frozenset({"image2", "image2pipe", "gif", "apng", "webp", "ico", "alias_pix", "brender_pix"})


def _image_format(format_name: str) -> str | None:
    """The image demuxer among FFmpeg's comma-separated format names, or None for a video container."""
    for name in format_name.split(","):
        if name in _IMAGE_DEMUXERS or name.endswith("_pipe"):
            return name
    return None


class BadVideo(Exception):
    """A video that cannot provide frames. ``kind`` is one of BadVideoKind; str() is the reason."""

    def __init__(self, kind: BadVideoKind, path: str | os.PathLike[str], detail: str = "") -> None:
        self.kind: BadVideoKind = kind
        self.path = str(path)
        self.reason = f"{kind}: {self.path}" + (f" ({detail})" if detail else "")
        super().__init__(self.reason)


def _why(e: Exception) -> str:
    """FFmpeg's message without the file name (the reason already names it)."""
    return str(getattr(e, "strerror", None) or e)


def uniform_indices(n_frames: int, num: int) -> np.ndarray:
    """``num`` indices spread evenly over ``[0, n_frames)``, first and last included."""
    if n_frames < 1 or num < 1:
        raise ValueError(f"uniform_indices: n_frames={n_frames}, num={num} must be >= 1")
    return np.round(np.linspace(0, n_frames - 1, num)).astype(np.int64)


def sample_frames(path: str | os.PathLike[str], num_frames: int, seek: bool | None = None) -> np.ndarray:
    """Decode ``num_frames`` uniformly sampled RGB frames -> ``uint8 [T, H, W, 3]``.

    ``seek``: jump to each sampled frame (seek to the keyframe before it, decode forward) instead of
    decoding the stream from the start. Default: seek when the video has more than 8·T frames (long
    MicroLens clips), where decoding everything up to the last sample would dominate. Both give the
    same frames for constant-frame-rate video; seeking falls back to sequential decoding on failure.
    """
    p = Path(path)
    if not str(path) or not p.is_file():
        raise BadVideo("missing", path, "no such file" if str(path) else "no video path for this item")
    if p.stat().st_size == 0:
        raise BadVideo("zero_length", path)
    try:
        container = av.open(str(p))
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as e:
        raise BadVideo("corrupt", path, f"cannot open: {_why(e)}") from e
    with container:
        image = _image_format(container.format.name)
        if image is not None:
            raise BadVideo("not_video", path, f"an image ({image}), not a video container")
        if not container.streams.video:
            raise BadVideo("no_video_stream", path)
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        declared = stream.frames  # 0 when the container does not say
        try:
            if declared > 0 and (seek if seek is not None else declared > 8 * num_frames):
                frames = _seek_indices(container, stream, uniform_indices(declared, num_frames))
                if frames is not None:
                    return frames
                container.seek(0)
            if declared > 0:
                frames = _decode_indices(container, stream, uniform_indices(declared, num_frames))
                if frames is not None:
                    return frames
                container.seek(0)
            # frame count unknown or wrong: decode everything, then sample
            all_frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        except av.error.FFmpegError as e:
            raise BadVideo("corrupt", path, f"decode error: {_why(e)}") from e
    if not all_frames:
        raise BadVideo("no_frames", path)
    idx = uniform_indices(len(all_frames), num_frames)
    return np.stack([all_frames[i] for i in idx])


def _decode_indices(container: av.container.InputContainer, stream: av.VideoStream, idx: np.ndarray) -> np.ndarray | None:
    """Decode sequentially, keeping frames at ``idx`` (may repeat). None if the stream ends early."""
    wanted = sorted(set(int(i) for i in idx))
    got: dict[int, np.ndarray] = {}
    last = wanted[-1]
    for i, frame in enumerate(container.decode(stream)):
        if i in wanted:
            got[i] = frame.to_ndarray(format="rgb24")
        if i >= last:
            break
    if len(got) != len(wanted):
        return None
    return np.stack([got[int(i)] for i in idx])


def _seek_indices(container: av.container.InputContainer, stream: av.VideoStream, idx: np.ndarray) -> np.ndarray | None:
    """Frame i at pts start + i/fps: seek to the keyframe at or before it, decode forward to it.
    None when the stream lacks a frame rate or timestamps (the caller decodes sequentially)."""
    rate, tb = stream.average_rate, stream.time_base
    if not rate or not tb:
        return None
    start = stream.start_time or 0
    frame_pts = 1 / (rate * tb)  # one frame in time_base units
    got: dict[int, np.ndarray] = {}
    try:
        for i in sorted(set(int(i) for i in idx)):
            target = start + int(round(i * frame_pts))
            container.seek(target, stream=stream, backward=True, any_frame=False)
            for frame in container.decode(stream):
                if frame.pts is not None and frame.pts >= target - frame_pts / 2:
                    got[i] = frame.to_ndarray(format="rgb24")
                    break
            if i not in got:
                return None
    except av.error.FFmpegError:
        return None
    return np.stack([got[int(i)] for i in idx])
