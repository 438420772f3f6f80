"""Our split (items/train/valid/test.arrow) as RecBole's pre-split atomic files.

    <name>.train.inter   one row per training prefix: user, the <= max_history items before, the next item
    <name>.valid.inter   one row per user: the validation history (<= max_history) and target
    <name>.test.inter    one row per user: the test history and target

Columns: `user_id:token  item_id_list:token_seq  item_id:token`; tokens are our item ids, so RecBole's
internal ids map back to our catalogue through `dataset.field2id_token`. RecBole augments nothing in
pre-split mode, so the train file carries every prefix itself, as its own augmentation would
(`SequentialDataset.data_augmentation`): a train sequence of n items gives n − 1 rows, the same targets
our whole-sequence training predicts. The config must set `alias_of_item_id: [item_id_list]`, or history
and target ids are numbered apart and every score is silently wrong (`recbole_config`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np

from linkedout.train.data import Catalogue, EvalSplit, read_train_sequences

HEADER = "user_id:token\titem_id_list:token_seq\titem_id:token\n"


def _rows(users: Iterable[str], histories: Iterable[np.ndarray], targets: Iterable[int], items: list[str]) -> list[str]:
    return [f"{u}\t{' '.join(items[i] for i in h)}\t{items[int(t)]}\n" for u, h, t in zip(users, histories, targets)]


def train_prefix_rows(sequences: list[np.ndarray], max_history: int) -> tuple[list[int], list[np.ndarray], list[int]]:
    """(row owner, history, target) for every prefix of every sequence: s[t - max_history : t] -> s[t], t >= 1."""
    owners, histories, targets = [], [], []
    for u, s in enumerate(sequences):
        for t in range(1, len(s)):
            owners.append(u)
            histories.append(s[max(0, t - max_history):t])
            targets.append(int(s[t]))
    return owners, histories, targets


def write_atomic(split_dir: Path, out_dir: Path, name: str, max_history: int) -> dict[str, int]:
    """Write out_dir/<name>.{train,valid,test}.inter; returns the row counts."""
    catalogue = Catalogue.read(split_dir / "items.arrow")
    users, sequences = read_train_sequences(split_dir / "train.arrow", catalogue)
    owners, histories, targets = train_prefix_rows(sequences, max_history)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    parts = {"train": _rows((users[o] for o in owners), histories, targets, catalogue.items)}
    for split in ("valid", "test"):
        ev = EvalSplit.read(split_dir / f"{split}.arrow", split, catalogue)
        parts[split] = _rows(ev.users, (h[-max_history:] for h in ev.histories), ev.targets, catalogue.items)
    for split, rows in parts.items():
        path = out_dir / f"{name}.{split}.inter"
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(HEADER + "".join(rows))
        tmp.replace(path)
        counts[split] = len(rows)
    return counts
