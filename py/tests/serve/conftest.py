"""A tiny trained run (synthetic split + TokenStore, the model helper's real training loop), shared by
the store tests. ~2 s on one CPU thread."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

N_ITEMS = 40
N_USERS = 80


@dataclass(frozen=True)
class TrainedRun:
    root: Path
    run_dir: Path
    split_dir: Path
    token_store: Path
    n_items: int = N_ITEMS


def tiny_train_spec(root: Path) -> dict:
    return {
        "run_dir": str(root / "run"), "split_dir": str(root / "split"), "store": str(root / "tokens"),
        "recommender": {"d_c": 32, "d_z": 16, "compressor": {"heads": 2}, "moe": {"expert_hidden": 32, "gate_hidden": 16}},
        "train": {"epochs": 3, "batch_size": 32, "lr": {"item_encoder": 1e-3, "ranker": 1e-3}},
        "device": "cpu",
    }


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    from linkedout.train.loop import train
    from linkedout.train.spec import TrainSpec
    from linkedout.train.synthetic import write_synthetic_split, write_synthetic_store

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("trained-run")
    write_synthetic_split(root / "split", N_USERS, N_ITEMS, seed=0)
    write_synthetic_store(root / "tokens", N_ITEMS)
    train(TrainSpec.from_json(tiny_train_spec(root)))
    return TrainedRun(root=root, run_dir=root / "run", split_dir=root / "split", token_store=root / "tokens")
