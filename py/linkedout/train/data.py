"""Training data: the split files (docs/architecture.md "Split") and content features from the TokenStore.

- `Catalogue`   items.arrow: row order = catalogue index used everywhere; train_count -> log-popularity.
- `read_train_sequences` train.arrow -> one int64 array of catalogue indices per user (oldest first).
- `EvalSplit`   valid.arrow / test.arrow -> users, histories, targets, masked items.
- `ContentSource` gathers `ItemFeatures` for catalogue indices from the memory-mapped TokenStore.

Memory: nothing per item is held in RAM beyond the catalogue ids, their train counts and the store's row
index (the TokenStore reader keeps (view, row) int64 pairs per item and prompt); feature rows are copied
out of the memory map only for the items of the current batch. See docs/model.md for bytes per item.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
import pyarrow as pa
import torch

from linkedout.model.config import RecommenderConfig
from linkedout.model.features import ItemFeatures
from linkedout.store.token_store import TokenStore


class DataError(ValueError):
    """Bad training input; the message names the file, row and field."""


def _read_arrow(path: Path, required: dict[str, pa.DataType | None]) -> pa.Table:
    if not path.exists():
        raise DataError(f"{path}: missing")
    try:
        with pa.memory_map(str(path), "r") as source:
            table = pa.ipc.open_file(source).read_all()
    except (pa.ArrowInvalid, OSError) as err:
        raise DataError(f"{path}: not an Arrow IPC file ({err})") from err
    for name, dtype in required.items():
        if name not in table.column_names:
            raise DataError(f"{path}: missing column {name!r} (has {', '.join(table.column_names)})")
        if dtype is not None and not table.schema.field(name).type.equals(dtype):
            raise DataError(f"{path}: column {name!r} has type {table.schema.field(name).type}, expected {dtype}")
    return table


@dataclass
class Catalogue:
    items: list[str]
    train_count: np.ndarray  # [n_items] int64
    index: dict[str, int]

    @classmethod
    def read(cls, path: Path) -> "Catalogue":
        table = _read_arrow(path, {"item": pa.utf8(), "train_count": pa.int64()})
        items = table.column("item").to_pylist()
        index: dict[str, int] = {}
        for row, item in enumerate(items):
            if item in index:
                raise DataError(f"{path}: row {row}: item {item!r} appears twice (first at row {index[item]})")
            index[item] = row
        return cls(items=items, train_count=table.column("train_count").to_numpy().astype(np.int64), index=index)

    def __len__(self) -> int:
        return len(self.items)

    def log_popularity(self) -> torch.Tensor:
        """log(train_count + 1) per catalogue item [n_items] float32 (the MicroLens debias term)."""
        return torch.log(torch.from_numpy(self.train_count.astype(np.float64) + 1.0)).float()

    def lookup(self, ids: Sequence[str], path: Path, row: int, field: str) -> np.ndarray:
        try:
            return np.fromiter((self.index[i] for i in ids), dtype=np.int64, count=len(ids))
        except KeyError as err:
            raise DataError(f"{path}: row {row}: {field}: item {err.args[0]!r} is not in items.arrow") from None


def read_train_sequences(path: Path, catalogue: Catalogue) -> tuple[list[str], list[np.ndarray]]:
    """train.arrow -> (users, sequences of catalogue indices, oldest first)."""
    table = _read_arrow(path, {"user": pa.utf8(), "sequence": None})
    users = table.column("user").to_pylist()
    sequences = [catalogue.lookup(seq or [], path, row, "sequence") for row, seq in enumerate(table.column("sequence").to_pylist())]
    return users, sequences


@dataclass
class EvalSplit:
    name: str
    users: list[str]
    histories: list[np.ndarray]  # catalogue indices, oldest first, <= max_history
    targets: np.ndarray  # [U] int64
    masked: list[np.ndarray]  # catalogue indices scored -inf

    @classmethod
    def read(cls, path: Path, name: str, catalogue: Catalogue) -> "EvalSplit":
        table = _read_arrow(path, {"user": pa.utf8(), "history": None, "target": pa.utf8(), "masked": None})
        histories, masked, targets = [], [], []
        for row, (hist, tgt, msk) in enumerate(zip(table.column("history").to_pylist(), table.column("target").to_pylist(),
                                                   table.column("masked").to_pylist())):
            if not hist:
                raise DataError(f"{path}: row {row}: history: empty (every evaluated user needs at least one item)")
            histories.append(catalogue.lookup(hist, path, row, "history"))
            masked.append(catalogue.lookup(msk or [], path, row, "masked"))
            targets.append(catalogue.lookup([tgt], path, row, "target")[0])
        return cls(name=name, users=table.column("user").to_pylist(), histories=histories,
                   targets=np.asarray(targets, dtype=np.int64), masked=masked)

    def __len__(self) -> int:
        return len(self.users)


def selected_taps(cfg: RecommenderConfig, store: TokenStore) -> list[int]:
    """Positions (into the store's tap list) the model reads: the configured taps (`layers: tapped`,
    what extract.taps / tap_every named) or only the deepest stored layer (`layers: last`, the
    backbone's last layer, which every extraction stores)."""
    if cfg.layers == "tapped":
        return [store.taps.index(t) for t in store.configured_taps]
    return [len(store.taps) - 1]


class FeatureSource(Protocol):
    """Catalogue indices [B] -> their `ItemFeatures` (ContentSource; train.feature_cache's FeatureCache)."""

    def gather(self, catalogue_indices: torch.Tensor) -> ItemFeatures: ...


class ContentSource:
    """Catalogue index -> `ItemFeatures`, read from a memory-mapped TokenStore.

    Items the store lacks (extraction failed) come back with `present = False` and zero features.
    New-token slots that are entirely zero are treated as padding (`new_valid = False`): the store keeps
    N_new slots and a generation that stopped early leaves the rest zero.
    """

    def __init__(self, store: TokenStore, catalogue: Catalogue, cfg: RecommenderConfig) -> None:
        self.store = store
        self.cfg = cfg
        self.taps = selected_taps(cfg, store)
        store_index = {item: i for i, item in enumerate(store.items)}
        self.store_row = np.array([store_index.get(item, -1) for item in catalogue.items], dtype=np.int64)
        if (self.store_row < 0).all():
            raise DataError(f"{store.dir}: the TokenStore has none of the {len(catalogue)} catalogue items (wrong store for this dataset?)")
        self._fallback_row = int(self.store_row[self.store_row >= 0][0])  # read for missing items, then zeroed
        if cfg.pooling == "compressor":
            self.kinds = ["old_merged", "old_merged_size", "new"]
        elif cfg.pooling == "mean":
            self.kinds = ["old_mean"]
        else:
            self.kinds = {"old": ["old_last"], "new": ["new_last"], "both": ["old_last", "new_last"]}[cfg.last_token_source]

    @property
    def n_taps(self) -> int:
        return len(self.taps)

    @property
    def n_prompts(self) -> int:
        return len(self.store.prompts)

    @property
    def d_model(self) -> int:
        return self.store.d_model

    def missing_items(self) -> int:
        return int((self.store_row < 0).sum())

    def gather(self, catalogue_indices: torch.Tensor) -> ItemFeatures:
        idx = catalogue_indices.cpu().numpy()
        rows = self.store_row[idx]
        present = rows >= 0
        all_present = bool(present.all())
        safe_rows = rows if all_present else np.where(present, rows, self._fallback_row)
        tap_sel = torch.tensor(self.taps)
        out: dict[str, torch.Tensor] = {}
        present_t = torch.from_numpy(present)
        for kind in self.kinds:
            t = self.store.get(kind, safe_rows)  # [B, P, T_store, ...]
            t = t.index_select(2, tap_sel) if t.shape[2] != len(self.taps) else t
            if not all_present:
                t[~present_t] = 0  # missing items: zero rows (the model swaps in its no-content vector)
            out[kind] = t
        features = ItemFeatures(present=present_t)
        if "old_merged" in out:
            features.old_merged = out["old_merged"]
            features.old_size = out["old_merged_size"].float()
            features.new = out["new"]
            features.new_valid = (out["new"] != 0).any(dim=-1)
        features.old_mean = out.get("old_mean")
        features.old_last = out.get("old_last")
        features.new_last = out.get("new_last")
        return features


def open_content(store_dir: str | os.PathLike[str] | None, catalogue: Catalogue, cfg: RecommenderConfig) -> ContentSource | None:
    if not cfg.item_content:
        return None
    if not store_dir:
        raise DataError("spec.store: item_content=true needs a TokenStore directory")
    return ContentSource(TokenStore.open(store_dir), catalogue, cfg)
