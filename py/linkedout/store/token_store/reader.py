"""Reading a finished store: memory-mapped shards, rows gathered on demand.

``TokenStore.open(dir)`` memory-maps every shard (``pa.memory_map``) and gathers rows on demand:
``store.get("old_merged", indices)`` -> ``[B, P, taps, M, d]`` in fp16/bf16. Store item order is the
item id sorted by bytes — the catalogue order of ``items.arrow`` — so for a complete store the store
index of an item equals its catalogue index.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .format import (
    FLOAT_KINDS,
    FORMAT,
    TENSOR_KINDS,
    Kind,
    StoreSettings,
    TokenStoreError,
    check_file_settings,
    open_ipc,
    sha256_of,
    validate_manifest,
)


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
            reader = open_ipc(path)
            check_file_settings(path, reader.schema, settings)
            self._keepalive.append(reader)
            n = 0
            for b in range(reader.num_record_batches):
                rb = reader.get_batch(b)
                self._keepalive.append(rb)
                views: dict[str, np.ndarray] = {}
                for kind in TENSOR_KINDS:
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
                got = sha256_of(d / sh["file"])
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
