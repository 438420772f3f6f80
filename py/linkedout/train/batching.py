"""Turn a batch of user sequences into tensors for next-item training, and split it across DDP ranks.

For each user sequence s (catalogue indices, oldest first, at most max_history + 1 kept, the newest):

    inputs  = s[:-1]   (<= max_history)     targets = s[1:]     (one next item per position)

The candidate set is the sorted distinct items of the global batch (`in_batch`) or the whole catalogue
(`full`); histories and targets are stored as *rows* of the candidate matrix. Ranks then take contiguous
chunks of candidates and users; after an all-gather, rows 0..C-1 of the gathered matrix are exactly the
candidates in order (only the tail chunks carry padding), so the loss is the same on any world size.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence, TypeVar

import numpy as np
import torch


@dataclass
class TrainBatch:
    candidates: torch.Tensor  # [C] catalogue indices, sorted
    history_rows: torch.Tensor  # [B, L] candidate rows of the inputs, right-padded with 0
    target_rows: torch.Tensor  # [B, L] candidate row of the next item, -1 on padding
    lengths: torch.Tensor  # [B] number of inputs (>= 1)
    user_items: torch.Tensor  # [B, C] bool: candidate occurs in the user's sequence

    @property
    def n_users(self) -> int:
        return int(self.lengths.shape[0])


def make_batch(sequences: Sequence[np.ndarray], max_history: int, n_items: int | None = None) -> TrainBatch:
    """`n_items` given = full-catalogue candidates; None = in-batch candidates."""
    kept = [np.asarray(s[-(max_history + 1):], dtype=np.int64) for s in sequences]
    if any(len(s) < 2 for s in kept):
        raise ValueError("make_batch: every training sequence needs at least 2 items (filter them first)")
    if n_items is None:
        candidates = np.unique(np.concatenate(kept))
    else:
        candidates = np.arange(n_items, dtype=np.int64)
    b, length = len(kept), max(len(s) for s in kept) - 1
    history = np.zeros((b, length), dtype=np.int64)
    target = np.full((b, length), -1, dtype=np.int64)
    lengths = np.zeros(b, dtype=np.int64)
    user_items = np.zeros((b, len(candidates)), dtype=bool)
    for i, s in enumerate(kept):
        rows = np.searchsorted(candidates, s)
        n = len(s) - 1
        history[i, :n] = rows[:-1]
        target[i, :n] = rows[1:]
        lengths[i] = n
        user_items[i, rows] = True
    return TrainBatch(candidates=torch.from_numpy(candidates), history_rows=torch.from_numpy(history),
                      target_rows=torch.from_numpy(target), lengths=torch.from_numpy(lengths),
                      user_items=torch.from_numpy(user_items))


def chunk_bounds(total: int, world: int, rank: int) -> tuple[int, int, int]:
    """Contiguous chunk of `total` rows for `rank`: (start, stop, chunk size every rank pads to)."""
    size = -(-total // world)
    start = min(rank * size, total)
    return start, min(start + size, total), size


def pad_rows(t: torch.Tensor, size: int, fill: int | float = 0) -> torch.Tensor:
    """Pad dim 0 of `t` to `size` rows with `fill`."""
    if t.shape[0] == size:
        return t
    pad = torch.full((size - t.shape[0], *t.shape[1:]), fill, dtype=t.dtype, device=t.device)
    return torch.cat([t, pad])


def sequences_of(order: torch.Tensor, sequences: Sequence[np.ndarray]) -> list[np.ndarray]:
    return [sequences[int(i)] for i in order]


T = TypeVar("T")


def prefetch(items: Iterable[T]) -> Iterator[T]:
    """Yield `items`, producing the next one on a background thread while the caller works on this one.

    Batch assembly (numpy on the sequences) then overlaps the step's torch kernels, which release the GIL.
    The order and the items are exactly those of `items`; an exception while producing one is raised here.
    """
    done = object()
    source = iter(items)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="linkedout-batches") as pool:
        pending = pool.submit(next, source, done)
        while True:
            item = pending.result()
            if item is done:
                return
            pending = pool.submit(next, source, done)
            yield item  # type: ignore[misc]
