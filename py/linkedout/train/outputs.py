"""Arrow outputs of a run (IPC *file* format, written to a temporary name then renamed).

- `ranks.arrow`      user utf8, split utf8, target utf8, rank int32 (1-based), topk list<utf8>  (docs/architecture.md)
- `gates.arrow`      item utf8, gates fixed_size_list<float32>[T]; schema metadata `taps` (layer indices,
                     JSON) and `prompt_weights` ([T][P] JSON, or null)
- `train_log.arrow`  step int64, epoch int32, loss, ce, align, uniformity, load_balance, grad_norm float64,
                     lr_<group> float64 per parameter group
- `epochs.arrow`     epoch int32, valid_hr10, valid_ndcg10, train_loss, seconds float64, best bool
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyarrow as pa

from linkedout.util.atomic import write_atomic

from .evaluate import SplitRanks

RANKS_SCHEMA = pa.schema([
    pa.field("user", pa.utf8()), pa.field("split", pa.utf8()), pa.field("target", pa.utf8()),
    pa.field("rank", pa.int32()), pa.field("topk", pa.list_(pa.utf8())),
])


def write_table_atomic(path: Path, table: pa.Table) -> None:
    """``table`` as an Arrow IPC file, written atomically."""

    def write(tmp: Path) -> None:
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)

    write_atomic(path, write)


def ranks_table(parts: Sequence[SplitRanks], items: Sequence[str]) -> pa.Table:
    users, splits, targets, ranks, tops = [], [], [], [], []
    for part in parts:
        users += part.users
        splits += [part.split] * len(part.users)
        targets += [items[int(t)] for t in part.targets]
        ranks.append(part.ranks)
        tops += [[items[int(i)] for i in top] for top in part.topk]
    return pa.table({
        "user": pa.array(users, pa.utf8()), "split": pa.array(splits, pa.utf8()),
        "target": pa.array(targets, pa.utf8()),
        "rank": pa.array(np.concatenate(ranks) if ranks else np.zeros(0, np.int32), pa.int32()),
        "topk": pa.array(tops, pa.list_(pa.utf8())),
    }, schema=RANKS_SCHEMA)


def gates_table(items: Sequence[str], gates: np.ndarray, taps: Sequence[int], prompt_weights: np.ndarray | None) -> pa.Table:
    n_taps = gates.shape[1]
    flat = pa.array(gates.astype(np.float32).reshape(-1), pa.float32())
    meta = {"taps": json.dumps(list(taps)), "prompt_weights": json.dumps(None if prompt_weights is None else prompt_weights.tolist())}
    schema = pa.schema([pa.field("item", pa.utf8()), pa.field("gates", pa.list_(pa.float32(), n_taps))], metadata=meta)
    return pa.table({"item": pa.array(list(items), pa.utf8()), "gates": pa.FixedSizeListArray.from_arrays(flat, n_taps)}, schema=schema)


def log_table(rows: dict[str, list[Any]], int_columns: dict[str, pa.DataType]) -> pa.Table:
    return pa.table({k: pa.array(v, int_columns.get(k, pa.float64())) for k, v in rows.items()})
