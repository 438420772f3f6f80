"""Extraction as a pure, idempotent work unit that any cluster engine can run (docs/cluster.md).

One call extracts exactly one shard of the catalogue into a TokenStore directory, resuming its part
files, and touches no other shard; ``finalize`` builds the manifest once every shard is committed.
Nothing here talks to the orchestrator: the inputs are files any host can read:

    RESOLVED.yaml   ``lo-exp config show CONFIG > RESOLVED.yaml`` (model.path set; only `model`,
                    `extract` and `workers.threads` are read)
    items.arrow     the split's catalogue (``item``, ``video``, ``title``), docs/architecture.md
    DIR             the TokenStore directory, on storage every shard's host sees

Shard membership is ``ts/data/shard.ts`` ported bit for bit (``shard_of``): sha256(id) as a big-endian
64-bit number mod N, ids in byte order inside a shard. So N independent calls plus ``finalize``
write the same bytes as the orchestrator's ``runExtraction`` over the same items.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pyarrow as pa

from ..store.token_store import StoreSettings, TokenStoreError
from ..config import section_defaults
from ..config.typed import to_dict
from .extractor import ExtractSettings, ShardReport
from .store_identity import extraction_key


class WorkUnitError(Exception):
    """A user mistake in the work unit's inputs; the message is one line naming the file and key."""


@dataclass(frozen=True)
class ExtractJob:
    """What a shard needs from the resolved config."""

    model_path: str
    model_dtype: str
    settings: ExtractSettings
    retry_failed: bool
    shard_size: int
    threads: int


def load_job(config_path: str | os.PathLike[str]) -> ExtractJob:
    """Read the resolved config (YAML or JSON) written by ``lo-exp config show``."""
    import yaml

    path = Path(config_path)
    try:
        cfg = yaml.safe_load(path.read_text())
    except OSError as e:
        raise WorkUnitError(f"{path}: cannot read ({e.strerror})") from e
    except yaml.YAMLError as e:
        raise WorkUnitError(f"{path}: not YAML ({str(e).splitlines()[0]})") from e
    if not isinstance(cfg, dict) or not isinstance(cfg.get("model"), dict) or not isinstance(cfg.get("extract"), dict):
        raise WorkUnitError(f"{path}: no `model` and `extract` sections; write it with `lo-exp config show CONFIG`")
    model, extract = cfg["model"], cfg["extract"]
    model_path = str(model.get("path") or "")
    if not model_path:
        raise WorkUnitError(
            f"{path}: model.path is empty (the tiny model): build it once with `lo-exp model tiny --out DIR` and "
            "resolve with --set model.path=DIR"
        )
    known = {f.name for f in fields(ExtractSettings)}
    try:
        settings = ExtractSettings.from_json({k: v for k, v in extract.items() if k in known})
    except (TypeError, ValueError) as e:
        raise WorkUnitError(f"{path}: {e}") from e
    workers = cfg.get("workers") if isinstance(cfg.get("workers"), dict) else {}
    # a key the file leaves out takes the schema's default (a resolved config has them all)
    model = {**section_defaults("model"), **model}
    extract = {**section_defaults("extract"), **extract}
    workers = {**section_defaults("workers"), **workers}
    return ExtractJob(
        model_path=model_path,
        model_dtype=str(model["dtype"]),
        settings=settings,
        retry_failed=bool(extract["retry_failed"]),
        shard_size=int(extract["shard_size"]),
        threads=int(workers["threads"]),
    )


def read_items(items_path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """items.arrow -> [{"item", "video", "title", <side channels>}] in file order (what the orchestrator sends the op)."""
    path = Path(items_path)
    try:
        table = pa.ipc.open_file(pa.memory_map(str(path), "r")).read_all()
    except (OSError, pa.ArrowInvalid) as e:
        raise WorkUnitError(f"{path}: not a readable Arrow IPC file ({e})") from e
    for col in ("item", "video"):
        if col not in table.column_names:
            raise WorkUnitError(f"{path}: no column {col!r} (expected the split's items.arrow)")
    ids = table.column("item").to_pylist()
    videos = table.column("video").to_pylist()
    titles = table.column("title").to_pylist() if "title" in table.column_names else [""] * len(ids)
    seen: set[str] = set()
    for r, it in enumerate(ids):
        if it is None or it in seen:
            raise WorkUnitError(f"{path}: row {r}: item {it!r} is empty or repeated")
        seen.add(it)
    # any other utf8 column is a side channel (transcript, tags, ...); "" or null = absent for that item
    sides = {c: table.column(c).to_pylist() for c in table.column_names if c not in ("item", "video", "title")}
    out: list[dict[str, Any]] = []
    for r, (i, v, t) in enumerate(zip(ids, videos, titles)):
        row: dict[str, Any] = {"item": i, "video": v or "", "title": t or ""}
        row.update({c: vals[r] for c, vals in sides.items() if vals[r]})
        out.append(row)
    return out


def shard_of(item_id: str, num_shards: int) -> int:
    """ts/data/shard.ts ``shardOf``: sha256(id) as a big-endian uint64, mod n."""
    return int.from_bytes(hashlib.sha256(item_id.encode("utf-8")).digest()[:8], "big") % num_shards


def shard_members(ids: Sequence[str], num_shards: int, shard: int) -> list[str]:
    """The ids of one shard in byte order (ts/data/shard.ts ``shardIds``)."""
    return sorted((i for i in ids if shard_of(i, num_shards) == shard), key=lambda s: s.encode("utf-8"))


def default_num_shards(num_items: int, shard_size: int) -> int:
    """The orchestrator's shard count: ceil(items / extract.shard_size), at least 1."""
    return max(1, math.ceil(num_items / shard_size))


def store_identity(store_dir: str | os.PathLike[str], job: ExtractJob, items_path: str | os.PathLike[str]) -> tuple[str, str]:
    """(key, dataset) of the store: the existing store's, else derived from the inputs. The
    orchestrator's stage key cannot be recomputed here; pass --key/--dataset to match it."""
    spath = Path(store_dir) / "settings.json"
    if spath.exists():
        s = StoreSettings.from_json(json.loads(spath.read_text()))
        return s.key, s.dataset
    h = hashlib.sha256()
    with open(items_path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    dataset = h.hexdigest()[:16]
    # the identity the orchestrator's extractionKey gives these inputs (both derived from the schema marks)
    return extraction_key(dataset, {"path": job.model_path, "dtype": job.model_dtype}, to_dict(job.settings)), dataset


ProgressFn = Callable[[int, int, str], None]

# one loaded backbone per process: a Ray worker or a long-lived process running several shards
_BACKBONES: dict[tuple[str, str, str], Any] = {}


def run_shard(
    job: ExtractJob,
    items: Sequence[Mapping[str, Any]],
    store_dir: str | os.PathLike[str],
    shard: int,
    num_shards: int,
    key: str,
    dataset: str,
    device: str = "cpu",
    progress: ProgressFn | None = None,
) -> ShardReport:
    """Extract shard ``shard`` of ``num_shards`` (resuming its parts) and commit it. Raises
    ``ShardCommitConflict`` if another writer committed this shard while this one ran."""
    from .backbone import load_backbone
    from .extractor import Extractor, extract_shard

    if not 0 <= shard < num_shards:
        raise WorkUnitError(f"--shard {shard}: not in [0, {num_shards})")
    by_id = {str(it["item"]): it for it in items}
    shard_items = [by_id[i] for i in shard_members(list(by_id), num_shards, shard)]
    bkey = (job.model_path, job.model_dtype, device)
    if bkey not in _BACKBONES:
        _BACKBONES.clear()
        try:
            _BACKBONES[bkey] = load_backbone(job.model_path, dtype=job.model_dtype, device=device)
        except (OSError, ValueError) as e:
            raise WorkUnitError(f"model.path {job.model_path!r}: {e}") from e
    extractor = Extractor(_BACKBONES[bkey], job.settings)
    return extract_shard(
        extractor,
        store_dir=str(store_dir),
        key=key,
        dataset=dataset,
        items=shard_items,
        shard=shard,
        num_shards=num_shards,
        retry_failed=job.retry_failed,
        progress=progress,
    )


__all__ = [
    "ExtractJob",
    "TokenStoreError",
    "WorkUnitError",
    "default_num_shards",
    "load_job",
    "read_items",
    "run_shard",
    "shard_members",
    "shard_of",
    "store_identity",
]
