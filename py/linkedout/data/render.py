"""Deterministic rendering of the synthetic MicroLens-format videos and covers.

The synthetic dataset (docs/data.md) plants latent *topics* that must be visible to a video model:
every topic has a dominant background colour, a foreground shape and a motion pattern. TypeScript
(`ts/data/synth.ts`) decides which item gets which visual spec; this module only turns a spec into
pixels and encodes them. Nothing here draws from global random state: the same spec always gives the
same frames (per-pixel noise comes from a generator seeded by ``spec.seed``), so decoded frames are
identical across runs.

This is not part of the paper (§4.1 uses the real MicroLens videos); it exists because MicroLens cannot
be downloaded on the machines this project is built and tested on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Literal, get_args

import av
import numpy as np
from PIL import Image

from ..util.atomic import write_atomic

Shape = Literal["circle", "ring", "square", "diamond", "triangle", "cross", "bar"]
Motion = Literal["left_right", "up_down", "orbit", "diagonal", "zoom", "spin"]
Codec = Literal["libx264", "mpeg4"]

SHAPES: tuple[str, ...] = get_args(Shape)
MOTIONS: tuple[str, ...] = get_args(Motion)
CODECS: tuple[str, ...] = get_args(Codec)


@dataclass(frozen=True)
class VideoSpec:
    """What one item's video looks like. Colours are RGB 0..255; fractions are of min(width, height)."""

    item: str
    background: tuple[int, int, int]
    foreground: tuple[int, int, int]
    shape: Shape
    motion: Motion
    size: float  # half-extent of the shape as a fraction of the frame side, e.g. 0.2
    angle: float  # fixed rotation of the shape in degrees (the "spin" motion adds to it)
    speed: float  # motion cycles over the whole clip
    phase: float  # start of the motion cycle, 0..1
    seconds: float  # clip duration
    noise: float  # amplitude of per-pixel uniform noise, 0..64 (0 = flat colours)
    seed: int  # seeds the per-pixel noise

    @staticmethod
    def from_dict(d: dict[str, object]) -> "VideoSpec":
        """Build from the JSON form used by the `render_videos` op (already schema-validated)."""
        bg = d["background"]
        fg = d["foreground"]
        assert isinstance(bg, list) and isinstance(fg, list)
        return VideoSpec(
            item=str(d["item"]),
            background=(int(bg[0]), int(bg[1]), int(bg[2])),
            foreground=(int(fg[0]), int(fg[1]), int(fg[2])),
            shape=d["shape"],  # type: ignore[arg-type]
            motion=d["motion"],  # type: ignore[arg-type]
            size=float(d["size"]),  # type: ignore[arg-type]
            angle=float(d.get("angle", 0.0)),  # type: ignore[arg-type]
            speed=float(d.get("speed", 1.0)),  # type: ignore[arg-type]
            phase=float(d.get("phase", 0.0)),  # type: ignore[arg-type]
            seconds=float(d["seconds"]),  # type: ignore[arg-type]
            noise=float(d.get("noise", 0.0)),  # type: ignore[arg-type]
            seed=int(d.get("seed", 0)),  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class RenderSettings:
    width: int = 64
    height: int = 64
    fps: int = 8
    codec: Codec = "mpeg4"


def frame_count(spec: VideoSpec, settings: RenderSettings) -> int:
    return max(1, round(spec.seconds * settings.fps))


def _shape_mask(shape: str, u: np.ndarray, v: np.ndarray, s: float) -> np.ndarray:
    """Boolean mask of `shape` with half-extent `s` in shape-centred, rotated coordinates (u right, v down)."""
    r = np.hypot(u, v)
    if shape == "circle":
        return r <= s
    if shape == "ring":
        return (r <= s) & (r >= 0.55 * s)
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.85 * s
    if shape == "diamond":
        return np.abs(u) + np.abs(v) <= s
    if shape == "triangle":
        # apex at v = -s, base at v = +s/2 (equilateral)
        return (v <= 0.5 * s) & (v >= -s + math.sqrt(3.0) * np.abs(u))
    if shape == "cross":
        arm = s / 3.0
        return ((np.abs(u) <= arm) & (np.abs(v) <= s)) | ((np.abs(v) <= arm) & (np.abs(u) <= s))
    if shape == "bar":
        return (np.abs(u) <= s) & (np.abs(v) <= 0.3 * s)
    raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")


def _pose(spec: VideoSpec, t: float) -> tuple[float, float, float, float]:
    """Centre (x, y as fractions of the frame), size scale and rotation (radians) at clip time t in [0, 1)."""
    cycle = 2.0 * math.pi * (spec.speed * t + spec.phase)
    sweep = 0.5 - 0.5 * math.cos(cycle)  # 0..1..0 once per cycle
    x, y, scale, extra_angle = 0.5, 0.5, 1.0, 0.0
    if spec.motion == "left_right":
        x = 0.2 + 0.6 * sweep
    elif spec.motion == "up_down":
        y = 0.2 + 0.6 * sweep
    elif spec.motion == "orbit":
        x, y = 0.5 + 0.25 * math.cos(cycle), 0.5 + 0.25 * math.sin(cycle)
    elif spec.motion == "diagonal":
        x = y = 0.2 + 0.6 * sweep
    elif spec.motion == "zoom":
        scale = 0.5 + 1.0 * sweep
    elif spec.motion == "spin":
        extra_angle = cycle
    else:
        raise ValueError(f"unknown motion {spec.motion!r}; expected one of {MOTIONS}")
    return x, y, scale, math.radians(spec.angle) + extra_angle


def render_frames(spec: VideoSpec, settings: RenderSettings) -> np.ndarray:
    """All frames of one clip as uint8 RGB, shape [T, H, W, 3]."""
    h, w = settings.height, settings.width
    n = frame_count(spec, settings)
    side = float(min(h, w))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)  # [H, W] pixel centres
    xs += 0.5
    ys += 0.5
    # Background: the topic colour with a gentle vertical gradient, so frames are not one flat value.
    gradient = (ys / h - 0.5)[..., None] * 24.0  # [H, W, 1]
    background = np.asarray(spec.background, dtype=np.float32)[None, None, :] + gradient  # [H, W, 3]
    foreground = np.asarray(spec.foreground, dtype=np.float32)
    rng = np.random.Generator(np.random.PCG64(spec.seed))
    frames = np.empty((n, h, w, 3), dtype=np.uint8)
    for i in range(n):
        x, y, scale, angle = _pose(spec, i / n)
        du, dv = xs - x * w, ys - y * h
        cos_a, sin_a = math.cos(angle), math.sin(angle)
        u = cos_a * du + sin_a * dv
        v = -sin_a * du + cos_a * dv
        mask = _shape_mask(spec.shape, u, v, spec.size * scale * side)  # [H, W]
        frame = np.where(mask[..., None], foreground[None, None, :], background)
        if spec.noise > 0:
            frame = frame + rng.uniform(-spec.noise, spec.noise, size=(h, w, 1)).astype(np.float32)
        frames[i] = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
    return frames


def encode_mp4(frames: np.ndarray, path: Path, settings: RenderSettings) -> None:
    """Encode [T, H, W, 3] uint8 RGB frames to an .mp4 (yuv420p). Writes `path` atomically via a temp name.

    Determinism: libavcodec's mpeg4 encoder gives the same bytes every run. libx264's lookahead,
    macroblock tree and B-frame decisions were seen to vary between runs in one process (its asm
    reads memory whose contents differ run to run), so for libx264 they are switched off.
    """
    write_atomic(path, lambda tmp: _encode_mp4_to(frames, tmp, settings))


def _encode_mp4_to(frames: np.ndarray, tmp: Path, settings: RenderSettings) -> None:
    with av.open(str(tmp), mode="w", format="mp4") as container:
        stream = container.add_stream(settings.codec, rate=settings.fps)
        stream.width = settings.width
        stream.height = settings.height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, settings.fps)
        stream.codec_context.thread_count = 1  # threaded encoders may decide differently run to run
        if settings.codec == "libx264":
            stream.codec_context.options = {
                "preset": "veryfast",
                "crf": "20",
                "x264-params": "threads=1:rc-lookahead=0:mbtree=0:bframes=0",
            }
        else:
            stream.codec_context.bit_rate = 400_000
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, settings.fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_cover(frame: np.ndarray, path: Path) -> None:
    """Save one RGB frame as the item's cover .jpg (atomically)."""
    write_atomic(path, lambda tmp: Image.fromarray(frame, mode="RGB").save(tmp, format="JPEG", quality=90))


def decode_frames(path: Path) -> np.ndarray:
    """Decode every frame of a video to uint8 RGB [T, H, W, 3] (used by tests and sanity checks)."""
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError(f"{path}: no video stream")
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    if not frames:
        raise ValueError(f"{path}: no decodable video frames")
    return np.stack(frames)


@dataclass(frozen=True)
class RenderReport:
    rendered: int
    skipped: int
    bytes: int


def render_videos(
    specs: list[VideoSpec],
    videos_dir: Path,
    covers_dir: Path,
    settings: RenderSettings = RenderSettings(),
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> RenderReport:
    """Render `<videos_dir>/<item>.mp4` and `<covers_dir>/<item>.jpg` for every spec.

    Resumable: an item whose video and cover both exist is skipped unless `overwrite` (files are only
    ever created by an atomic rename, so an existing file is complete).
    """
    if settings.codec not in CODECS:
        raise ValueError(f"unknown codec {settings.codec!r}; expected one of {CODECS}")
    if settings.width % 2 or settings.height % 2:
        raise ValueError(f"width and height must be even for yuv420p, got {settings.width}x{settings.height}")
    videos_dir.mkdir(parents=True, exist_ok=True)
    covers_dir.mkdir(parents=True, exist_ok=True)
    rendered = skipped = total_bytes = 0
    for i, spec in enumerate(specs):
        if not spec.item or "/" in spec.item or spec.item.startswith("."):
            raise ValueError(f"spec {i}: item id {spec.item!r} cannot be a file name")
        video, cover = videos_dir / f"{spec.item}.mp4", covers_dir / f"{spec.item}.jpg"
        if not overwrite and video.exists() and cover.exists():
            skipped += 1
        else:
            frames = render_frames(spec, settings)
            encode_mp4(frames, video, settings)
            write_cover(frames[len(frames) // 2], cover)
            rendered += 1
        total_bytes += video.stat().st_size
        if progress is not None:
            progress(i + 1, len(specs))
    return RenderReport(rendered=rendered, skipped=skipped, bytes=total_bytes)
