"""linkedout.model.ranking against a brute-force reference: a full ordering of every row, written here independently."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from linkedout.model.ranking import batch_rows, flat_mask, rank_batch, top_k


def reference_order(row: list[float], masked: set[int]) -> list[int]:
    """Unmasked catalogue indices in ranking order: score descending, then index ascending (Python's sort)."""
    return sorted((i for i in range(len(row)) if i not in masked), key=lambda i: (-row[i], i))


def reference_rank(row: list[float], masked: set[int], target: int) -> int:
    """Position (1-based) of the target in the full order, masked items (score -inf) after every unmasked one."""
    if target in masked:  # a masked target scores -inf: after all unmasked items and the masked ones before it
        return len(row) - len(masked) + 1 + sum(1 for m in masked if m < target)
    return reference_order(row, masked).index(target) + 1


@pytest.mark.parametrize("seed,levels", [(0, 3), (1, 7), (2, 1000)])
def test_ranks_and_top_k_equal_a_full_sort_with_ties_and_masks(seed: int, levels: int) -> None:
    rng = np.random.default_rng(seed)
    users, items = 64, 41
    scores = torch.from_numpy(rng.integers(0, levels, (users, items)).astype(np.float32) / levels)  # many ties at few levels
    targets = rng.integers(0, items, users)
    masked = [rng.choice(items, size=rng.integers(0, 12), replace=False) for _ in range(users)]
    masked[5] = np.append(masked[5][masked[5] != targets[5]], targets[5])  # one masked target
    masked[6] = np.arange(items - 3)  # fewer unmasked items than K
    rows, cols = flat_mask(masked)
    ranks, top = rank_batch(scores.clone(), torch.from_numpy(targets), rows, cols, k=10)
    for u in range(users):
        row, m = scores[u].tolist(), set(masked[u].tolist())
        assert int(ranks[u]) == reference_rank(row, m, int(targets[u])), f"user {u}"
        assert top[u].tolist() == reference_order(row, m)[:10], f"user {u}"


def test_top_k_keeps_the_lowest_indices_at_a_tied_boundary() -> None:
    scores = torch.tensor([[1.0, 3.0, 3.0, 0.5, 3.0, 2.0],
                           [2.0, 2.0, 2.0, 2.0, 2.0, 2.0]])
    values, index = top_k(scores, 2)
    assert index.tolist() == [[1, 2], [0, 1]] and values.tolist() == [[3.0, 3.0], [2.0, 2.0]]
    values, index = top_k(scores[:1], 4)
    assert index.tolist() == [[1, 2, 4, 5]] and values.tolist() == [[3.0, 3.0, 3.0, 2.0]]


def test_batches_shrink_to_the_memory_budget() -> None:
    assert batch_rows(n_items=100, requested=512) == 512
    assert batch_rows(n_items=1_000_000, requested=512, budget_bytes=120_000_000) == 10
    assert batch_rows(n_items=10**9, requested=512, budget_bytes=1) == 1
