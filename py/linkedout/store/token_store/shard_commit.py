"""Writing one shard: resumable part files, and the fenced, locked commit into ``shard-<i>.arrow``.

Writing is resumable: every finished batch is one part file written under a temporary name and
linked into place, so a killed worker loses at most the batch in flight, and a rerun skips the items
already in parts. ``ShardWriter.finalize`` merges the parts into the shard file sorted by (item,
prompt), so the bytes do not depend on how often a shard was resumed.

Commits are fenced: every ``ShardWriter`` is one *attempt* (a random id, written into its part files'
metadata and into the summary it commits). It may commit only if the shard's committed attempt is
still the one it saw when it started, checked under a per-shard lock; so of two writers of one shard
(a partitioned worker and its retry, a Ray task and its re-execution) at most one commits, and the
other is refused with ``ShardCommitConflict``.
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import pyarrow as pa

from ...util.atomic import temp_beside, write_atomic, write_json_atomic
from .finalize import rebuild_manifest as rebuild_store_manifest
from .format import (
    PART_RE,
    Failure,
    FeatureBatch,
    ShardCommitConflict,
    ShardSummary,
    StoreSettings,
    TokenStoreError,
    arrow_schema,
    batch_to_record_batch,
    check_file_settings,
    open_ipc,
    sha256_of,
    write_ipc_file,
)


class ShardWriter:
    """Resumable writer of one shard. Usage::

        w = TokenStoreWriter(dir, settings).shard(i, n)
        done, failed = w.progress()          # items already extracted / recorded as failed
        w.write_part(feature_batch, failures) # after every batch: atomic, survives SIGKILL
        summary = w.finalize(all_items)       # merge parts -> shard-<i>.arrow (the commit)

    Each instance is one attempt (``attempt``, a random id). ``finalize`` commits only if the shard's
    committed attempt is still the one seen at construction; otherwise ``ShardCommitConflict``.
    """

    def __init__(self, store_dir: Path, settings: StoreSettings, index: int, num_shards: int) -> None:
        if not 0 <= index < num_shards:
            raise TokenStoreError(f"shard index {index} is not in [0, {num_shards})")
        self.dir = store_dir
        self.settings = settings
        self.index = index
        self.num_shards = num_shards
        self.path = store_dir / f"shard-{index}.arrow"
        self.summary_path = store_dir / f"shard-{index}.json"
        self.attempt = uuid.uuid4().hex
        # One other summary suffices: each was checked against an earlier one when committed
        # (reading all of them here would make a store's writing quadratic in shards).
        others = [self.summary_path] if self.summary_path.exists() else []
        others += [next((p for p in store_dir.glob("shard-*.json") if p != self.summary_path), None)] if not others else []
        for other in [o for o in others if o is not None]:
            n = json.loads(other.read_text()).get("num_shards")
            if n is not None and n != num_shards:
                raise TokenStoreError(
                    f"{other}: this store was split into {n} shards, not {num_shards}; keep extract.shard_size "
                    "unchanged while a store is unfinished (or extract into a fresh store)"
                )
        self._base_attempt = self._committed_attempt()

    # -- reading back what is already on disk --------------------------------------------------

    def _parts(self) -> list[tuple[int, Path]]:
        out = []
        for p in self.dir.iterdir():
            m = PART_RE.match(p.name)
            if m and int(m.group(1)) == self.index:
                out.append((int(m.group(2)), p))
        return sorted(out)

    def _sources(self) -> list[Path]:
        """Finished shard first (oldest), then parts in write order: a later record wins."""
        srcs = [self.path] if self.path.exists() else []
        return srcs + [p for _, p in self._parts()]

    def _read_records(self, sources: Sequence[Path] | None = None) -> tuple[dict[tuple[str, int], tuple[Path, int, int]], dict[str, str]]:
        """(item, prompt) -> (file, batch, row) of the latest row, and item -> failure reason
        for items whose latest record is a failure."""
        rows: dict[tuple[str, int], tuple[Path, int, int]] = {}
        failed: dict[str, str] = {}
        for src in self._sources() if sources is None else sources:
            reader = open_ipc(src)
            check_file_settings(src, reader.schema, self.settings)
            meta = reader.schema.metadata or {}
            for f in json.loads(meta.get(b"linkedout.failed", b"[]")):
                failed[f["item"]] = f["reason"]
                for key in [k for k in rows if k[0] == f["item"]]:
                    del rows[key]
            for b in range(reader.num_record_batches):
                rb = reader.get_batch(b)
                items = rb.column(0).to_pylist()
                prompts = rb.column(1).to_pylist()
                for r, (it, pr) in enumerate(zip(items, prompts)):
                    rows[(it, pr)] = (src, b, r)
                    failed.pop(it, None)
        return rows, failed

    def progress(self) -> tuple[set[str], dict[str, str]]:
        """Items with every prompt extracted, and items recorded as failed (item -> reason)."""
        rows, failed = self._read_records()
        n_prompts = len(self.settings.prompts)
        count: dict[str, int] = {}
        for it, _ in rows:
            count[it] = count.get(it, 0) + 1
        return {it for it, c in count.items() if c == n_prompts}, failed

    def _committed_attempt(self) -> str | None:
        """The attempt id of the shard's committed summary ("" for one written before attempts), or None."""
        try:
            return str(json.loads(self.summary_path.read_text()).get("attempt", ""))
        except FileNotFoundError:
            return None

    @contextmanager
    def _commit_lock(self) -> Iterator[None]:
        # flock: released by the kernel if the holder dies, so a killed writer never wedges the shard
        with open(self.dir / f".shard-{self.index}.commit.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _discard_own_parts(self) -> None:
        for _, p in self._parts():
            try:
                meta = open_ipc(p).schema.metadata or {}
            except TokenStoreError:
                continue
            if meta.get(b"linkedout.attempt", b"").decode() == self.attempt:
                p.unlink(missing_ok=True)

    def finished_summary(self) -> dict[str, Any] | None:
        """The summary of this shard if it is finished and nothing was added since, else None."""
        if not self.summary_path.exists() or not self.path.exists() or self._parts():
            return None
        return json.loads(self.summary_path.read_text())

    # -- writing ------------------------------------------------------------------------------

    def write_part(self, batch: FeatureBatch, failures: Sequence[Failure] = ()) -> Path:
        """Persist one batch of rows (and the items of the batch that failed) atomically."""
        meta = {"linkedout.failed": json.dumps([asdict(f) for f in failures]), "linkedout.attempt": self.attempt}
        schema = arrow_schema(self.settings, meta)
        rb = batch_to_record_batch(self.settings, batch, schema)
        seq = max((n for n, _ in self._parts()), default=-1) + 1
        with temp_beside(self.dir / f"shard-{self.index}.part.arrow") as tmp:
            write_ipc_file(tmp, schema, [rb])
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            while True:  # exclusive create: a concurrent writer of this shard never overwrites our part
                path = self.dir / f"shard-{self.index}.part-{seq}.arrow"
                try:
                    os.link(tmp, path)
                    return path
                except FileExistsError:
                    seq += 1

    def finalize(self, items: Sequence[str], rows_per_batch: int = 64, rebuild_manifest: bool = True) -> ShardSummary:
        """Commit: merge the finished shard (if any) and all parts into ``shard-<i>.arrow``, rows sorted
        by (item, prompt); keep only rows of ``items``. Items neither extracted nor failed are an error.
        Refused (``ShardCommitConflict``, this attempt's parts removed) if another writer committed the
        shard since this one started. ``rebuild_manifest=False`` leaves the manifest to ``finalize_store``
        (what extraction does: per-shard rebuilds would read every summary once per shard)."""
        with self._commit_lock():
            current = self._committed_attempt()
            if current != self._base_attempt:
                self._discard_own_parts()
                raise ShardCommitConflict(
                    f"shard {self.index}: attempt {self.attempt[:8]} refused: attempt {(current or '?')[:8]} committed this "
                    "shard while it ran (a duplicate writer); the committed shard is kept"
                )
            summary = self._finalize_locked(items, rows_per_batch)
            self._base_attempt = self.attempt
        if rebuild_manifest:
            rebuild_store_manifest(self.dir, self.settings)
        return summary

    def _finalize_locked(self, items: Sequence[str], rows_per_batch: int) -> ShardSummary:
        sources = self._sources()
        rows, failed = self._read_records(sources)
        wanted = set(items)
        n_prompts = len(self.settings.prompts)
        have = {it for it, _ in rows}
        missing = sorted(it for it in wanted if it not in failed and sum((it, p) in rows for p in range(n_prompts)) < n_prompts)
        if missing:
            raise TokenStoreError(f"shard {self.index}: {len(missing)} items neither extracted nor failed, e.g. {missing[0]!r}")
        keys = sorted(k for k in rows if k[0] in wanted)
        failures = [Failure(it, failed[it]) for it in sorted(failed) if it in wanted]
        meta = {"linkedout.failed": json.dumps([asdict(f) for f in failures]), "linkedout.shard": str(self.index)}
        schema = arrow_schema(self.settings, meta)

        readers: dict[Path, pa.ipc.RecordBatchFileReader] = {}
        batches_cache: dict[tuple[Path, int], pa.RecordBatch] = {}

        def batch_of(src: Path, b: int) -> pa.RecordBatch:
            if (src, b) not in batches_cache:
                if src not in readers:
                    readers[src] = open_ipc(src)
                batches_cache[(src, b)] = readers[src].get_batch(b)
            return batches_cache[(src, b)]

        def out_batches() -> Iterable[pa.RecordBatch]:
            for start in range(0, len(keys), rows_per_batch):
                pieces = []
                for k in keys[start : start + rows_per_batch]:
                    src, b, r = rows[k]
                    pieces.append(batch_of(src, b).slice(r, 1).replace_schema_metadata(None))
                tbl = pa.Table.from_batches(pieces).combine_chunks()
                yield pa.RecordBatch.from_arrays([c.chunk(0) for c in tbl.columns], schema=schema)

        write_atomic(self.path, lambda tmp: write_ipc_file(tmp, schema, out_batches()), fsync=True)
        readers.clear()
        batches_cache.clear()
        for p in sources:  # only what was merged: a part written meanwhile by another writer stays
            if p != self.path:
                p.unlink(missing_ok=True)
        summary = ShardSummary(
            shard=self.index,
            file=self.path.name,
            rows=len(keys),
            sha256=sha256_of(self.path),
            items=sorted(have & wanted - set(failed)),
            failed=failures,
        )
        js = summary.to_json()
        js["num_shards"] = self.num_shards
        js["attempt"] = self.attempt
        write_json_atomic(self.summary_path, js)
        return summary

