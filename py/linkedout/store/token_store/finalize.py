"""Finalizing a store: ``manifest.json``, built from the committed shard summaries under a file lock.

``finalize_store`` builds it once every shard is committed, reading each summary once (linear in
shards), and checks every item is present exactly once. ``rebuild_manifest`` assembles one from the
shards finished so far (a store may be incomplete).
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from ...util.atomic import write_json_atomic
from .format import FORMAT, PART_RE, StoreSettings, TokenStoreError, validate_manifest


@contextmanager
def manifest_lock(store_dir: Path) -> Iterator[None]:
    """Held while a manifest is built, so two builders never interleave."""
    with open(store_dir / ".manifest.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _summaries(store_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(store_dir.glob("shard-*.json"), key=lambda p: int(p.stem.split("-")[1]))]


def _write_manifest(store_dir: Path, s: StoreSettings, summaries: list[dict[str, Any]], num_shards: int) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "key": s.key,
        "model": s.model,
        "dataset": s.dataset,
        "taps": list(s.taps),
        "configured_taps": list(s.configured_taps or s.taps),
        "num_layers": s.num_layers,
        "d_model": s.d_model,
        "merged_tokens": s.merged_tokens,
        "new_tokens": s.new_tokens,
        "max_new_tokens": s.max_new_tokens,
        "prompts": list(s.prompts),
        "side_channels": list(s.side_channels),
        "frames": s.frames,
        "dtype": s.dtype,
        "num_shards": num_shards,
        "complete": num_shards > 0 and {x["shard"] for x in summaries} == set(range(num_shards)),
        "items": sum(len(x["items"]) for x in summaries),
        "shards": [{"file": x["file"], "rows": x["rows"], "sha256": x["sha256"]} for x in summaries],
        "failed": [f for x in summaries for f in x["failed"]],
    }
    validate_manifest(manifest, store_dir / "manifest.json")
    write_json_atomic(store_dir / "manifest.json", manifest)
    return manifest


def rebuild_manifest(store_dir: Path, settings: StoreSettings) -> dict[str, Any]:
    """Assemble manifest.json from the shards finished so far (under a file lock); the store may
    be incomplete. Reads every summary: call it once, not per shard (``finalize_store`` checks more)."""
    with manifest_lock(store_dir):
        summaries = _summaries(store_dir)
        expected = {s.get("num_shards") for s in summaries} - {None}
        return _write_manifest(store_dir, settings, summaries, max(expected) if expected else 0)


def finalize_store(store_dir: str | os.PathLike[str], items: Sequence[str] | None = None) -> dict[str, Any]:
    """Build ``manifest.json`` once every shard is committed, reading each summary once.

    Checks: every shard 0..N-1 committed (N agreed by all summaries), no unfinished part files, no
    item in two shards, and with ``items`` every item present exactly once (extracted or failed) and
    no other. Raises TokenStoreError naming the first problem; returns the manifest.
    """
    d = Path(store_dir)
    spath = d / "settings.json"
    if not spath.exists():
        raise TokenStoreError(f"{spath}: missing; no shard of this store was ever started")
    settings = StoreSettings.from_json(json.loads(spath.read_text()))
    with manifest_lock(d):
        summaries = _summaries(d)
        counts = {x.get("num_shards") for x in summaries}
        if not summaries:
            raise TokenStoreError(f"{d}: no shard is finished")
        if len(counts) != 1 or None in counts:
            raise TokenStoreError(f"{d}: shard summaries disagree on the shard count ({sorted(map(str, counts))})")
        n = int(next(iter(counts)))
        have = {int(x["shard"]) for x in summaries}
        missing = sorted(set(range(n)) - have)
        if missing:
            raise TokenStoreError(f"{d}: {len(missing)} of {n} shards not finished, e.g. shard {missing[0]} (run it: --shard {missing[0]} --of {n})")
        unfinished = sorted({int(m.group(1)) for p in d.iterdir() if (m := PART_RE.match(p.name))})
        if unfinished:
            raise TokenStoreError(f"{d}: shard {unfinished[0]} has part files newer than its commit (rerun that shard to fold them in)")
        seen: dict[str, int] = {}
        for x in summaries:
            if not (d / x["file"]).exists():
                raise TokenStoreError(f"{d / x['file']}: listed in shard-{x['shard']}.json but missing")
            for it in [*x["items"], *(f["item"] for f in x["failed"])]:
                if it in seen:
                    raise TokenStoreError(f"{d}: item {it!r} is in shard {seen[it]} and shard {x['shard']}")
                seen[it] = int(x["shard"])
        if items is not None:
            wanted = set(items)
            if len(wanted) != len(items):
                raise TokenStoreError("items: an item is listed more than once")
            absent = sorted(wanted - set(seen))
            if absent:
                raise TokenStoreError(f"{d}: {len(absent)} item(s) neither extracted nor failed, e.g. {absent[0]!r}")
            extra = sorted(set(seen) - wanted)
            if extra:
                raise TokenStoreError(f"{d}: {len(extra)} item(s) not in the item list, e.g. {extra[0]!r}")
        return _write_manifest(d, settings, summaries, n)
