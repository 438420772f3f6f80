"""Tiny training data in the real formats (split Arrow files + TokenStore), shared by the train tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from linkedout.train.synthetic import write_synthetic_split, write_synthetic_store

N_USERS, N_ITEMS, MISSING_ITEM = 24, 40, 5


@dataclass
class TinyData:
    split_dir: Path
    store_dir: Path
    n_items: int = N_ITEMS
    missing_item: int = MISSING_ITEM

    def spec(self, run_dir: Path, recommender: dict[str, Any] | None = None, **train: Any) -> dict[str, Any]:
        return tiny_spec(self, run_dir, recommender, **train)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> TinyData:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("tiny-train")
    write_synthetic_split(root / "split", N_USERS, N_ITEMS, seed=0)
    write_synthetic_store(root / "store", N_ITEMS, skip_items=(MISSING_ITEM,))  # one item whose extraction failed
    return TinyData(root / "split", root / "store")


def tiny_spec(data: TinyData, run_dir: Path, recommender: dict[str, Any] | None = None, **train: Any) -> dict[str, Any]:
    rec = {"d_c": 16, "d_z": 16, "dropout": 0.1, "compressor": {"heads": 2, "old_queries": 2, "new_queries": 1},
           "moe": {"expert_hidden": 16, "gate_hidden": 8}, "ranker": {"layers": 1}}
    rec.update(recommender or {})
    tr = {"epochs": 3, "batch_size": 8, "lr": {"item_encoder": 3e-3, "ranker": 3e-3, "id_embeddings": 3e-3},
          "precision": "fp32", "early_stopping_patience": 0}
    tr.update(train)
    return {"run_dir": str(run_dir), "split_dir": str(data.split_dir), "store": str(data.store_dir),
            "recommender": rec, "train": tr, "device": "cpu"}
