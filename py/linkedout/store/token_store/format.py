"""The TokenStore format: what a store holds (settings, feature kinds, rows) and its Arrow encoding.

Everything the writer, the finalizer and the reader agree on lives here: the format tag (read from
``schemas/tokenstore.manifest.schema.json``), the feature kinds and their row shapes, the errors,
the file names, and how a ``FeatureBatch`` becomes an Arrow record batch (float tensors as fp16/bf16
*bits* in ``fixed_size_list<uint16>`` columns: Arrow has no bf16).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal, get_args

import numpy as np
import pyarrow as pa
import torch

from ...config import SCHEMA_DIR

MANIFEST_SCHEMA = SCHEMA_DIR / "tokenstore.manifest.schema.json"
FORMAT: str = json.loads(MANIFEST_SCHEMA.read_text())["properties"]["format"]["const"]  # "linkedout.tokenstore/1"

StoreDtype = Literal["float16", "bfloat16"]
TORCH_DTYPES: dict[str, torch.dtype] = {"float16": torch.float16, "bfloat16": torch.bfloat16}

# The per-(item, prompt) features of a store row, in Arrow column order (after item, prompt, n_old);
# each kind's row shape is ``StoreSettings.row_shape``. This literal is the one list of them.
Kind = Literal["old_merged", "old_merged_size", "new", "old_mean", "old_last", "new_last", "n_old"]
ALL_KINDS: tuple[Kind, ...] = get_args(Kind)
TENSOR_KINDS: tuple[Kind, ...] = tuple(k for k in ALL_KINDS if k != "n_old")  # fixed-size-list columns, FeatureBatch tensors
FLOAT_KINDS: tuple[Kind, ...] = tuple(k for k in TENSOR_KINDS if k != "old_merged_size")  # stored as fp16/bf16 bits

PART_RE = re.compile(r"^shard-(\d+)\.part-(\d+)\.arrow$")


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
        shapes: dict[Kind, tuple[int, ...]] = {
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
        return shapes[kind]  # type: ignore[index]

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
        return FeatureBatch([], [], [], **{kind: torch.zeros((0, *settings.row_shape(kind))) for kind in TENSOR_KINDS})


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


def arrow_schema(settings: StoreSettings, extra_meta: dict[str, str]) -> pa.Schema:
    """The Arrow schema of every shard and part file of a store, with its settings in the metadata."""
    fields = [pa.field("item", pa.utf8()), pa.field("prompt", pa.int32()), pa.field("n_old", pa.int32())]
    for kind in TENSOR_KINDS:
        size = int(np.prod(settings.row_shape(kind)))
        elem = pa.uint16() if kind in FLOAT_KINDS else pa.float32()
        fields.append(pa.field(kind, pa.list_(elem, size), nullable=False))
    meta = {"linkedout.settings": json.dumps(settings.to_json(), sort_keys=True), **extra_meta}
    return pa.schema(fields, metadata=meta)


def batch_to_record_batch(settings: StoreSettings, batch: FeatureBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Check a batch's shapes and prompt indices, and encode it (float tensors as their fp16/bf16 bits)."""
    r = len(batch)
    for kind in TENSOR_KINDS:
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
    for kind in TENSOR_KINDS:
        size = int(np.prod(settings.row_shape(kind)))
        t = getattr(batch, kind)
        flat = _bits(t, settings.torch_dtype) if kind in FLOAT_KINDS else t.detach().to("cpu", torch.float32).contiguous().numpy().reshape(-1)
        cols.append(pa.FixedSizeListArray.from_arrays(pa.array(flat), size))
    return pa.RecordBatch.from_arrays(cols, schema=schema)


def write_ipc_file(path: Path, schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> None:
    """Write an Arrow IPC file (not atomic: callers write a temporary name, ``linkedout.util.atomic``)."""
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
        for rb in batches:
            writer.write_batch(rb)


def open_ipc(path: Path) -> pa.ipc.RecordBatchFileReader:
    """Memory-map an Arrow IPC file; a TokenStoreError naming it if it is not one."""
    try:
        return pa.ipc.open_file(pa.memory_map(str(path), "r"))
    except (pa.ArrowInvalid, OSError) as e:
        raise TokenStoreError(f"{path}: not a readable Arrow IPC file ({e})") from e


def check_file_settings(path: Path, schema: pa.Schema, settings: StoreSettings) -> None:
    """Refuse a shard or part file written with other settings than the store's."""
    meta = schema.metadata or {}
    raw = meta.get(b"linkedout.settings")
    if raw is None:
        raise TokenStoreError(f"{path}: no linkedout.settings metadata; not a TokenStore file")
    if json.loads(raw) != json.loads(json.dumps(settings.to_json(), sort_keys=True)):
        raise TokenStoreError(f"{path}: written with different extraction settings than {settings.key!r}")


def validate_manifest(manifest: dict[str, Any], where: Path) -> None:
    """Check a manifest against schemas/tokenstore.manifest.schema.json."""
    import jsonschema

    schema = json.loads(MANIFEST_SCHEMA.read_text())
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(manifest), key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        raise TokenStoreError(f"{where}: manifest field /{'/'.join(map(str, e.path))}: {e.message}")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
