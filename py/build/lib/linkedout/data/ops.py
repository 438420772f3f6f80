"""Worker op `render_videos`: TypeScript sends per-item visual specs, this renders .mp4 + cover .jpg.

Args (schemas/protocol/ops/render_videos.args.schema.json)::

    {"videos_dir": str, "covers_dir": str, "specs": [VideoSpec as JSON, ...],
     "width": 64, "height": 64, "fps": 8, "codec": "mpeg4", "overwrite": false}

Result: ``{"rendered": n, "skipped": n, "bytes": total size of the videos}``. Streams progress per item.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from linkedout.protocol.op import FrameValue, OpContext, OpError, OpResult

from .render import RenderSettings, VideoSpec, render_videos


def render_videos_op(args: dict[str, Any], frames: dict[str, FrameValue], ctx: OpContext) -> OpResult:
    settings = RenderSettings(
        width=int(args.get("width", 64)),
        height=int(args.get("height", 64)),
        fps=int(args.get("fps", 8)),
        codec=args.get("codec", "mpeg4"),
    )
    specs = [VideoSpec.from_dict(s) for s in args["specs"]]
    try:
        report = render_videos(
            specs,
            Path(args["videos_dir"]),
            Path(args["covers_dir"]),
            settings,
            overwrite=bool(args.get("overwrite", False)),
            progress=lambda done, total: ctx.progress(done, total, unit="videos"),
        )
    except ValueError as e:
        raise OpError("ArgsInvalid", str(e)) from e
    return OpResult(result={"rendered": report.rendered, "skipped": report.skipped, "bytes": report.bytes})
