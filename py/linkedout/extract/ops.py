"""Worker ops of the extraction stage: ``build_tiny_model``, ``extract`` (one shard) and
``finalize_store`` (the manifest, once all shards are committed).

``extract`` args (schemas/protocol/ops/extract.args.schema.json)::

    {"store": dir, "key": content hash, "dataset": id, "shard": i, "num_shards": n,
     "items": [{"item": id, "video": path, "title": ..., <side channels>}],
     "model": {"path": dir or hub id, "dtype": "auto"},
     "extract": {frames, prompts, side_channels, tap_every, taps, merged_tokens, max_new_tokens, ...},
     "retry_failed": false}

Result: the shard report (items, extracted, skipped, failed [{item, reason}], rows, seconds). Streams progress in items. The loaded backbone is cached in the worker's state, so
the next shard on the same worker does not reload it.
"""

from __future__ import annotations

from typing import Any

from linkedout.protocol.op import FrameValue, OpContext, OpError, OpResult

from ..store.token_store import TokenStoreError, finalize_store
from .backbone import Backbone, load_backbone
from .extractor import ExtractSettings, Extractor, extract_shard
from .tiny_model import build_tiny_model


def build_tiny_model_op(args: dict[str, Any], frames: dict[str, FrameValue], ctx: OpContext) -> OpResult:
    try:
        summary = build_tiny_model(
            args["out"],
            hidden=int(args.get("hidden", 64)),
            layers=int(args.get("layers", 8)),
            image_size=int(args.get("image_size", 32)),
            seed=int(args.get("seed", 0)),
        )
    except ValueError as e:
        raise OpError("ArgsInvalid", str(e)) from e
    return OpResult(result=summary)


def cached_backbone(ctx: OpContext, path: str, dtype: str) -> Backbone:
    """Load once per worker process (and per path/dtype)."""
    cache: dict[tuple[str, str], Backbone] = ctx.state.setdefault("extract.backbones", {})
    key = (path, dtype)
    if key not in cache:
        cache.clear()  # one backbone at a time: a 7B does not fit twice
        try:
            cache[key] = load_backbone(path, dtype=dtype, device=ctx.device)
        except (OSError, ValueError) as e:
            raise OpError("ModelLoad", f"model.path {path!r}: {e}") from e
    return cache[key]


def extract_op(args: dict[str, Any], frames: dict[str, FrameValue], ctx: OpContext) -> OpResult:
    model = args["model"]
    try:
        settings = ExtractSettings.from_json(args.get("extract", {}))
    except (TypeError, ValueError) as e:
        raise OpError("ArgsInvalid", str(e)) from e
    backbone = cached_backbone(ctx, model["path"], model.get("dtype", "auto"))
    try:
        extractor = Extractor(backbone, settings)
        report = extract_shard(
            extractor,
            store_dir=args["store"],
            key=args["key"],
            dataset=args.get("dataset", ""),
            items=args["items"],
            shard=int(args["shard"]),
            num_shards=int(args["num_shards"]),
            retry_failed=bool(args.get("retry_failed", False)),
            progress=lambda done, total, msg: ctx.progress(done, total, unit="items", message=msg),
        )
    except TokenStoreError as e:
        raise OpError("TokenStore", str(e)) from e
    except ValueError as e:
        raise OpError("ArgsInvalid", str(e)) from e
    return OpResult(result=report.to_json())




def finalize_store_op(args: dict[str, Any], frames: dict[str, FrameValue], ctx: OpContext) -> OpResult:
    try:
        manifest = finalize_store(args["store"], args.get("items"))
    except TokenStoreError as e:
        raise OpError("TokenStore", str(e)) from e
    return OpResult(result={k: manifest[k] for k in ("num_shards", "complete", "items", "failed")})
