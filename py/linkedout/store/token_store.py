"""TokenStore: the offline store of per-item, per-tap token reductions (paper §3.2, §3.4).

The extractor (``linkedout.extract``) runs the frozen video LLM once per (item, prompt) and keeps,
for every tapped decoder layer, the parameter-free reductions every ablation needs:

    old_merged       [taps, M, d]      ToMe-merged prefill ("old") tokens
    old_merged_size  [taps, M]         how many original tokens each merged token stands for
    new              [taps, N_new, d]  hidden states of the generated ("new") tokens
    old_mean         [taps, d]         mean of all old tokens (attention-mask exact)
    old_last         [taps, d]         the last old token
    new_last         [taps, d]         the last new token

Layout on disk (``docs/architecture.md`` "TokenStore" is the contract)::

    <store>/settings.json          what was extracted (taps, d, M, N_new, prompts, ...): fixed at creation
    <store>/manifest.json          schemas/tokenstore.manifest.schema.json, built once by finalize_store
    <store>/shard-<i>.arrow        Arrow IPC file, one row per (item, prompt), memory-mappable
    <store>/shard-<i>.json         that shard's summary (rows, sha256, items, failed, attempt)
    <store>/shard-<i>.part-<n>.arrow   work in progress of an unfinished shard (one per batch)

Float tensors are stored as fp16 or bf16 *bits* in ``fixed_size_list<uint16>`` columns (Arrow has
no bf16); ``settings.dtype`` says which. Writing is resumable: every finished batch is one part file
written under a temporary name and renamed, so a killed worker loses at most the batch in flight,
and a rerun skips the items already in parts. ``ShardWriter.finalize`` merges the parts into the
shard file sorted by (item, prompt), so the bytes do not depend on how often a shard was resumed.

Commits are fenced: every ``ShardWriter`` is one *attempt* (a random id, written into its part files'
metadata and into the summary it commits). It may commit only if the shard's committed attempt is
still the one it saw when it started, checked under a per-shard lock; so of two writers of one shard
(a partitioned worker and its retry, a Ray task and its re-execution) at most one commits, and the
other is refused with ``ShardCommitConflict``. ``finalize_store`` then builds the manifest once,
reading each shard summary once (linear in shards), and checks every item is present exactly once.

Reading: ``TokenStore.open(dir)`` memory-maps every shard (``pa.memory_map``) and gathers rows on
demand: ``store.get("old_merged", indices)`` -> ``[B, P, taps, M, d]`` in fp16/bf16. Store item order
is the item id sorted by bytes — the catalogue order of ``items.arrow`` — so for a complete store the
store index of an item equals its catalogue index.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal, Sequence

import numpy as np
import pyarrow as pa
import torch

FORMAT = "linkedout.tokenstore/1"
StoreDtype = Literal["float16", "bfloat16"]
TORCH_DTYPES: dict[str, torch.dtype] = {"float16": torch.float16, "bfloat16": torch.bfloat16}

# Kinds of per-tap feature stored as fp16/bf16 bits, with their per-row shape (taps omitted).
FLOAT_KINDS = ("old_merged", "new", "old_mean", "old_last", "new_last")
ALL_KINDS = (*FLOAT_KINDS, "old_merged_size", "n_old")
Kind = Literal["old_merged", "new", "old_mean", "old_last", "new_last", "old_merged_size", "n_old"]

_SHARD_RE = re.compile(r"^shard-(\d+)\.arrow$")
_PART_RE = re.compile(r"^shard-(\d+)\.part-(\d+)\.arrow$")


class TokenStoreError(Exception):
    """A TokenStore that cannot be written or read as asked; the message names the file."""


class ShardCommitConflict(TokenStoreError):
    """Another writer committed this shard after this writer started: this attempt is refused."""


@dataclass(frozen=True)
class StoreSettings:
    """What a store holds. Fixed when the store is created; every shard must agree.

    ``key`` is the content hash of (dataset, model, prompt bank, frames, taps, M, max_new_tokens)
    computed by the orchestrator (``ts/schedule/extract.ts``); it names the store directory.
    """

    key: str
    model: str
    dataset: str
    taps: tuple[int, ...]
    num_layers: int
    d_model: int
    merged_tokens: int
    new_tokens: int
    max_new_tokens: int
    prompts: tuple[str, ...]
    frames: int
    dtype: StoreDtype = "bfloat16"
    side_channels: tuple[str, ...] = ()
    # the configured layers (extract.taps / tap_every) the MoE fuses under `layers: tapped`; a subset of
    # `taps`, which also holds the last layer for the last-layer ablation. Empty: all of `taps`.
    configured_taps: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.dtype not in TORCH_DTYPES:
            raise TokenStoreError(f"settings.dtype: {self.dtype!r} is not one of {sorted(TORCH_DTYPES)}")
        if not self.taps or any(t < 0 or t >= self.num_layers for t in self.taps):
            raise TokenStoreError(f"settings.taps: {list(self.taps)} must be non-empty layer indices in [0, {self.num_layers})")
        if list(self.taps) != sorted(set(self.taps)):
            raise TokenStoreError(f"settings.taps: {list(self.taps)} must be strictly increasing")
        if list(self.configured_taps) != sorted(set(self.configured_taps)) or not set(self.configured_taps) <= set(self.taps):
            raise TokenStoreError(f"settings.configured_taps: {list(self.configured_taps)} must be increasing and among taps {list(self.taps)}")
        if not self.prompts:
            raise TokenStoreError("settings.prompts: the prompt bank is empty")
        for name in ("d_model", "merged_tokens", "new_tokens", "frames"):
            if getattr(self, name) < 1:
                raise TokenStoreError(f"settings.{name}: must be >= 1, got {getattr(self, name)}")

    @property
    def torch_dtype(self) -> torch.dtype:
        return TORCH_DTYPES[self.dtype]

    def row_shape(self, kind: str) -> tuple[int, ...]:
        """Shape of one (item, prompt) row of ``kind``."""
        t, m, n, d = len(self.taps), self.merged_tokens, self.new_tokens, self.d_model
        shapes: dict[str, tuple[int, ...]] = {
            "old_merged": (t, m, d),
            "old_merged_size": (t, m),
            "new": (t, n, d),
            "old_mean": (t, d),
            "old_last": (t, d),
            "new_last": (t, d),
            "n_old": (),
        }
        if kind not in shapes:
            raise TokenStoreError(f"unknown feature kind {kind!r}; one of {list(ALL_KINDS)}")
        return shapes[kind]

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["taps"] = list(self.taps)
        d["prompts"] = list(self.prompts)
        d["side_channels"] = list(self.side_channels)
        d["configured_taps"] = list(self.configured_taps)
        if not self.configured_taps:
            del d["configured_taps"]  # stores written before the field keep their settings bytes
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "StoreSettings":
        fields = dict(d)
        fields["taps"] = tuple(int(t) for t in fields["taps"])
        fields["prompts"] = tuple(fields["prompts"])
        fields["side_channels"] = tuple(fields.get("side_channels", ()))
        fields["configured_taps"] = tuple(int(t) for t in fields.get("configured_taps", ()))
        return cls(**fields)


@dataclass
class FeatureBatch:
    """R rows of features, one per (item, prompt). Float tensors are cast to the store dtype on write.

    Shapes: old_merged [R,taps,M,d], old_merged_size [R,taps,M], new [R,taps,N_new,d],
    old_mean / old_last / new_last [R,taps,d]; items, prompts, n_old have length R.
    """

    items: list[str]
    prompts: list[int]
    n_old: list[int]
    old_merged: torch.Tensor
    old_merged_size: torch.Tensor
    new: torch.Tensor
    old_mean: torch.Tensor
    old_last: torch.Tensor
    new_last: torch.Tensor

    def __len__(self) -> int:
        return len(self.items)

    @staticmethod
    def empty(settings: StoreSettings) -> "FeatureBatch":
        def z(kind: str, dtype: torch.dtype = torch.float32) -> torch.Tensor:
            return torch.zeros((0, *settings.row_shape(kind)), dtype=dtype)

        return FeatureBatch([], [], [], z("old_merged"), z("old_merged_size"), z("new"), z("old_mean"), z("old_last"), z("new_last"))


@dataclass
class Failure:
    item: str
    reason: str


@dataclass
class ShardSummary:
    shard: int
    file: str
    rows: int
    sha256: str
    items: list[str]
    failed: list[Failure] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "shard": self.shard,
            "file": self.file,
            "rows": self.rows,
            "sha256": self.sha256,
            "items": self.items,
            "failed": [asdict(f) for f in self.failed],
        }


# ----------------------------------------------------------------------------------------------
# Arrow encoding
# ----------------------------------------------------------------------------------------------


def _bits(t: torch.Tensor, dtype: torch.dtype) -> np.ndarray:
    """fp16/bf16 tensor -> flat uint16 numpy array of its bits."""
    return t.detach().to("cpu", dtype).contiguous().view(torch.int16).numpy().view(np.uint16).reshape(-1)


def _arrow_schema(settings: StoreSettings, extra_meta: dict[str, str]) -> pa.Schema:
    fields = [pa.field("item", pa.utf8()), pa.field("prompt", pa.int32()), pa.field("n_old", pa.int32())]
    for kind in ("old_merged", "old_merged_size", "new", "old_mean", "old_last", "new_last"):
        size = int(np.prod(settings.row_shape(kind)))
        elem = pa.float32() if kind == "old_merged_size" else pa.uint16()
        fields.append(pa.field(kind, pa.list_(elem, size), nullable=False))
    meta = {"linkedout.settings": json.dumps(settings.to_json(), sort_keys=True), **extra_meta}
    return pa.schema(fields, metadata=meta)


def _batch_to_record_batch(settings: StoreSettings, batch: FeatureBatch, schema: pa.Schema) -> pa.RecordBatch:
    r = len(batch)
    for kind in ("old_merged", "old_merged_size", "new", "old_mean", "old_last", "new_last"):
        t: torch.Tensor = getattr(batch, kind)
        want = (r, *settings.row_shape(kind))
        if tuple(t.shape) != want:
            raise TokenStoreError(f"FeatureBatch.{kind}: shape {tuple(t.shape)}, expected {want}")
    if not (len(batch.prompts) == len(batch.n_old) == r):
        raise TokenStoreError("FeatureBatch: items, prompts and n_old must have the same length")
    bad = [p for p in batch.prompts if not 0 <= p < len(settings.prompts)]
    if bad:
        raise TokenStoreError(f"FeatureBatch.prompts: {bad[0]} is not a prompt index in [0, {len(settings.prompts)})")
    cols: list[pa.Array] = [
        pa.array(batch.items, pa.utf8()),
        pa.array(batch.prompts, pa.int32()),
        pa.array(batch.n_old, pa.int32()),
    ]
    for kind in ("old_merged", "old_merged_size", "new", "old_mean", "old_last", "new_last"):
        size = int(np.prod(settings.row_shape(kind)))
        t = getattr(batch, kind)
        flat = t.detach().to("cpu", torch.float32).contiguous().numpy().reshape(-1) if kind == "old_merged_size" else _bits(t, settings.torch_dtype)
        cols.append(pa.FixedSizeListArray.from_arrays(pa.array(flat), size))
    return pa.RecordBatch.from_arrays(cols, schema=schema)


def _write_ipc_file_atomic(path: Path, schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
            for rb in batches:
                writer.write_batch(rb)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


MANIFEST_SCHEMA = Path(__file__).resolve().parents[3] / "schemas" / "tokenstore.manifest.schema.json"


def validate_manifest(manifest: dict[str, Any], where: Path) -> None:
    """Check a manifest against schemas/tokenstore.manifest.schema.json."""
    import jsonschema

    schema = json.loads(MANIFEST_SCHEMA.read_text())
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(manifest), key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        raise TokenStoreError(f"{where}: manifest field /{'/'.join(map(str, e.path))}: {e.message}")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _open_ipc(path: Path) -> pa.ipc.RecordBatchFileReader:
    try:
        return pa.ipc.open_file(pa.memory_map(str(path), "r"))
    except (pa.ArrowInvalid, OSError) as e:
        raise TokenStoreError(f"{path}: not a readable Arrow IPC file ({e})") from e


def _check_file_settings(path: Path, schema: pa.Schema, settings: StoreSettings) -> None:
    meta = schema.metadata or {}
    raw = meta.get(b"linkedout.settings")
    if raw is None:
        raise TokenStoreError(f"{path}: no linkedout.settings metadata; not a TokenStore file")
    if json.loads(raw) != json.loads(json.dumps(settings.to_json(), sort_keys=True)):
        raise TokenStoreError(f"{path}: written with different extraction settings than {settings.key!r}")


# ----------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------


class TokenStoreWriter:
    """Creates (or reopens) a store directory and hands out one ``ShardWriter`` per shard.

    Several processes may write different shards of the same store at once; a shard is written by
    one process at a time (the orchestrator guarantees it). ``settings.json`` is created once and
    every later writer must present equal settings.
    """

    def __init__(self, store_dir: str | os.PathLike[str], settings: StoreSettings) -> None:
        self.dir = Path(store_dir)
        self.settings = settings
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / "settings.json"
        tmp = self.dir / f".settings.json.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(settings.to_json(), indent=2) + "\n")
        try:
            os.link(tmp, path)  # atomic create-if-absent: concurrent writers agree on one file
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
        existing = json.loads(path.read_text())
        if existing != settings.to_json():
            diff = sorted(k for k in set(existing) | set(settings.to_json()) if existing.get(k) != settings.to_json().get(k))
            raise TokenStoreError(f"{path}: store was created with different settings (differs in: {', '.join(diff)})")

    def shard(self, index: int, num_shards: int) -> "ShardWriter":
        return ShardWriter(self, index, num_shards)

    @contextmanager
    def _manifest_lock(self) -> Iterator[None]:
        with open(self.dir / ".manifest.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _summaries(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in sorted(self.dir.glob("shard-*.json"), key=lambda p: int(p.stem.split("-")[1]))]

    def _write_manifest(self, summaries: list[dict[str, Any]], num_shards: int) -> dict[str, Any]:
        s = self.settings
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
        validate_manifest(manifest, self.dir / "manifest.json")
        _write_json_atomic(self.dir / "manifest.json", manifest)
        return manifest

    def rebuild_manifest(self) -> dict[str, Any]:
        """Assemble manifest.json from the shards finished so far (under a file lock); the store may
        be incomplete. Reads every summary: call it once, not per shard (``finalize_store`` checks more)."""
        with self._manifest_lock():
            summaries = self._summaries()
            expected = {s.get("num_shards") for s in summaries} - {None}
            return self._write_manifest(summaries, max(expected) if expected else 0)


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
    writer = TokenStoreWriter(d, StoreSettings.from_json(json.loads(spath.read_text())))
    with writer._manifest_lock():
        summaries = writer._summaries()
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
        unfinished = sorted({int(m.group(1)) for p in d.iterdir() if (m := _PART_RE.match(p.name))})
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
        return writer._write_manifest(summaries, n)


class ShardWriter:
    """Resumable writer of one shard. Usage::

        w = TokenStoreWriter(dir, settings).shard(i, n)
        done, failed = w.progress()          # items already extracted / recorded as failed
        w.write_part(feature_batch, failures) # after every batch: atomic, survives SIGKILL
        summary = w.finalize(all_items)       # merge parts -> shard-<i>.arrow (the commit)

    Each instance is one attempt (``attempt``, a random id). ``finalize`` commits only if the shard's
    committed attempt is still the one seen at construction; otherwise ``ShardCommitConflict``.
    """

    def __init__(self, store: TokenStoreWriter, index: int, num_shards: int) -> None:
        if not 0 <= index < num_shards:
            raise TokenStoreError(f"shard index {index} is not in [0, {num_shards})")
        self.store = store
        self.settings = store.settings
        self.index = index
        self.num_shards = num_shards
        self.path = store.dir / f"shard-{index}.arrow"
        self.summary_path = store.dir / f"shard-{index}.json"
        self._schema = _arrow_schema(self.settings, {})
        self.attempt = uuid.uuid4().hex
        # One other summary suffices: each was checked against an earlier one when committed
        # (reading all of them here would make a store's writing quadratic in shards).
        others = [self.summary_path] if self.summary_path.exists() else []
        others += [next((p for p in store.dir.glob("shard-*.json") if p != self.summary_path), None)] if not others else []
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
        for p in self.store.dir.iterdir():
            m = _PART_RE.match(p.name)
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
            reader = _open_ipc(src)
            _check_file_settings(src, reader.schema, self.settings)
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
        with open(self.store.dir / f".shard-{self.index}.commit.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _discard_own_parts(self) -> None:
        for _, p in self._parts():
            try:
                meta = _open_ipc(p).schema.metadata or {}
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
        schema = _arrow_schema(self.settings, meta)
        rb = _batch_to_record_batch(self.settings, batch, schema)
        seq = max((n for n, _ in self._parts()), default=-1) + 1
        tmp = self.store.dir / f".shard-{self.index}.part.{self.attempt}.tmp"
        _write_ipc_file_atomic(tmp, schema, [rb])
        try:
            while True:  # exclusive create: a concurrent writer of this shard never overwrites our part
                path = self.store.dir / f"shard-{self.index}.part-{seq}.arrow"
                try:
                    os.link(tmp, path)
                    return path
                except FileExistsError:
                    seq += 1
        finally:
            tmp.unlink(missing_ok=True)

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
            self.store.rebuild_manifest()
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
        schema = _arrow_schema(self.settings, meta)

        readers: dict[Path, pa.ipc.RecordBatchFileReader] = {}
        batches_cache: dict[tuple[Path, int], pa.RecordBatch] = {}

        def batch_of(src: Path, b: int) -> pa.RecordBatch:
            if (src, b) not in batches_cache:
                if src not in readers:
                    readers[src] = _open_ipc(src)
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

        _write_ipc_file_atomic(self.path, schema, out_batches())
        readers.clear()
        batches_cache.clear()
        for p in sources:  # only what was merged: a part written meanwhile by another writer stays
            if p != self.path:
                p.unlink(missing_ok=True)
        summary = ShardSummary(
            shard=self.index,
            file=self.path.name,
            rows=len(keys),
            sha256=_sha256(self.path),
            items=sorted(have & wanted - set(failed)),
            failed=failures,
        )
        js = summary.to_json()
        js["num_shards"] = self.num_shards
        js["attempt"] = self.attempt
        _write_json_atomic(self.summary_path, js)
        return summary


def write_token_store(
    store_dir: str | os.PathLike[str],
    settings: StoreSettings,
    batch: FeatureBatch,
    failed: Sequence[Failure] = (),
) -> "TokenStore":
    """Write a whole store as one shard in one call (tests, small synthetic stores) and open it."""
    shard = TokenStoreWriter(store_dir, settings).shard(0, 1)
    shard.write_part(batch, failed)
    items = sorted(set(batch.items) | {f.item for f in failed})
    shard.finalize(items, rebuild_manifest=False)
    finalize_store(store_dir, items)
    return TokenStore.open(store_dir)


# ----------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------


class TokenStore:
    """Memory-mapped reader of a finished store.

    ``items`` are sorted by id (bytes), ``get(kind, item_indices)`` gathers rows:

        old_merged       -> [B, P, taps, M, d]      (settings.dtype: float16 or bfloat16)
        old_merged_size  -> [B, P, taps, M]         float32
        new              -> [B, P, taps, N_new, d]
        old_mean / old_last / new_last -> [B, P, taps, d]
        n_old            -> [B, P]                  int32

    P is the prompt bank size (all prompts, in bank order) unless ``prompts`` selects some.
    """

    def __init__(self, store_dir: Path, manifest: dict[str, Any], settings: StoreSettings) -> None:
        self.dir = store_dir
        self.manifest = manifest
        self.settings = settings
        self._views: list[dict[str, np.ndarray]] = []  # one per record batch, over the mmapped shard
        self._keepalive: list[Any] = []
        row_of: dict[tuple[str, int], tuple[int, int]] = {}
        for sh in manifest["shards"]:
            path = store_dir / sh["file"]
            if not path.exists():
                raise TokenStoreError(f"{path}: listed in {store_dir / 'manifest.json'} but missing")
            reader = _open_ipc(path)
            _check_file_settings(path, reader.schema, settings)
            self._keepalive.append(reader)
            n = 0
            for b in range(reader.num_record_batches):
                rb = reader.get_batch(b)
                self._keepalive.append(rb)
                views: dict[str, np.ndarray] = {}
                for kind in ("old_merged", "old_merged_size", "new", "old_mean", "old_last", "new_last"):
                    flat = rb.column(kind).flatten().to_numpy(zero_copy_only=True)
                    views[kind] = flat.reshape(rb.num_rows, *settings.row_shape(kind))
                views["n_old"] = rb.column("n_old").to_numpy(zero_copy_only=True)
                vi = len(self._views)
                self._views.append(views)
                for r, (it, pr) in enumerate(zip(rb.column("item").to_pylist(), rb.column("prompt").to_pylist())):
                    if (it, pr) in row_of:
                        raise TokenStoreError(f"{path}: item {it!r} prompt {pr} appears more than once in the store")
                    row_of[(it, pr)] = (vi, r)
                n += rb.num_rows
            if n != sh["rows"]:
                raise TokenStoreError(f"{path}: {n} rows, manifest says {sh['rows']}")
        n_prompts = len(settings.prompts)
        items = sorted({it for it, _ in row_of}, key=lambda s: s.encode())
        for it in items:
            for p in range(n_prompts):
                if (it, p) not in row_of:
                    raise TokenStoreError(f"{store_dir}: item {it!r} lacks prompt {p}")
        self.items: list[str] = items
        self._index = {it: i for i, it in enumerate(items)}
        # loc[i, p] = (view index, row)
        self._loc = np.zeros((len(items), n_prompts, 2), dtype=np.int64)
        for (it, p), (vi, r) in row_of.items():
            self._loc[self._index[it], p] = (vi, r)

    @classmethod
    def open(cls, store_dir: str | os.PathLike[str], verify: bool = False) -> "TokenStore":
        """Open a store; ``verify`` also checks each shard's sha256 against the manifest."""
        d = Path(store_dir)
        mpath = d / "manifest.json"
        if not mpath.exists():
            raise TokenStoreError(f"{mpath}: missing; not a TokenStore (or no shard finished yet)")
        manifest = json.loads(mpath.read_text())
        if manifest.get("format") != FORMAT:
            raise TokenStoreError(f"{mpath}: format {manifest.get('format')!r}, expected {FORMAT!r}")
        validate_manifest(manifest, mpath)
        settings = StoreSettings.from_json(json.loads((d / "settings.json").read_text()))
        if verify:
            for sh in manifest["shards"]:
                got = _sha256(d / sh["file"])
                if got != sh["sha256"]:
                    raise TokenStoreError(f"{d / sh['file']}: sha256 {got} does not match the manifest")
        return cls(d, manifest, settings)

    # -- metadata -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.items)

    @property
    def taps(self) -> list[int]:
        """Every stored layer (the configured taps plus the last layer), increasing."""
        return list(self.settings.taps)

    @property
    def configured_taps(self) -> list[int]:
        """The layers extract.taps / tap_every named: what the MoE fuses under `layers: tapped`."""
        return list(self.settings.configured_taps or self.settings.taps)

    @property
    def d_model(self) -> int:
        return self.settings.d_model

    @property
    def merged_tokens(self) -> int:
        return self.settings.merged_tokens

    @property
    def new_tokens(self) -> int:
        return self.settings.new_tokens

    @property
    def prompts(self) -> list[str]:
        return list(self.settings.prompts)

    @property
    def dtype(self) -> torch.dtype:
        return self.settings.torch_dtype

    @property
    def failed(self) -> list[dict[str, str]]:
        return list(self.manifest["failed"])

    @property
    def complete(self) -> bool:
        return bool(self.manifest["complete"])

    def indices(self, item_ids: Sequence[str]) -> torch.Tensor:
        """Store indices of item ids (KeyError naming the first id not in the store)."""
        out = []
        for it in item_ids:
            if it not in self._index:
                raise KeyError(f"item {it!r} is not in the TokenStore {self.dir} (failed or never extracted)")
            out.append(self._index[it])
        return torch.tensor(out, dtype=torch.long)

    # -- data ---------------------------------------------------------------------------------

    def get(
        self,
        kind: Kind | str,
        item_indices: Sequence[int] | torch.Tensor | np.ndarray,
        prompts: Sequence[int] | None = None,
    ) -> torch.Tensor:
        """Gather ``kind`` for the given store indices (shapes in the class docstring). Copies only
        the requested rows out of the memory map."""
        self.settings.row_shape(kind)  # validates kind
        idx = np.asarray(item_indices.cpu() if isinstance(item_indices, torch.Tensor) else item_indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self.items)):
            raise IndexError(f"item index out of range [0, {len(self.items)})")
        pr = np.arange(len(self.settings.prompts)) if prompts is None else np.asarray(prompts, dtype=np.int64)
        loc = self._loc[idx][:, pr]  # [B, P, 2]
        shape = self.settings.row_shape(kind)
        first = self._views[0][kind] if self._views else None
        np_dtype = first.dtype if first is not None else np.uint16
        out = np.empty((idx.size, pr.size, *shape), dtype=np_dtype)
        for vi in np.unique(loc[..., 0]) if loc.size else []:
            sel = loc[..., 0] == vi
            out[sel] = self._views[int(vi)][kind][loc[..., 1][sel]]
        if kind in FLOAT_KINDS:
            return torch.from_numpy(out.view(np.int16)).view(self.settings.torch_dtype)
        return torch.from_numpy(out)

    def get_items(self, kind: Kind | str, item_ids: Sequence[str], prompts: Sequence[int] | None = None) -> torch.Tensor:
        """``get`` by item id."""
        return self.get(kind, self.indices(item_ids), prompts)
