"""Next-item batches and the DDP chunking that must reproduce the one-process batch."""

import numpy as np
import torch

from linkedout.train.batching import chunk_bounds, make_batch, pad_rows


def test_batch_rows_point_at_the_right_candidates() -> None:
    seqs = [np.array([7, 3, 9]), np.array([3, 4]), np.arange(20, 34)]  # the last is longer than 10 + 1
    b = make_batch(seqs, max_history=10)
    cands = b.candidates.tolist()
    assert cands == sorted(set([7, 3, 9, 4] + list(range(23, 34))))
    assert b.lengths.tolist() == [2, 1, 10]
    assert [cands[r] for r in b.history_rows[0, :2]] == [7, 3]
    assert [cands[r] for r in b.target_rows[0, :2]] == [3, 9]
    assert b.target_rows[0, 2:].eq(-1).all() and b.target_rows[1, 1:].eq(-1).all()
    assert [cands[r] for r in b.history_rows[2]] == list(range(23, 33))
    assert [cands[r] for r in b.target_rows[2]] == list(range(24, 34))
    assert {cands[c] for c in np.flatnonzero(b.user_items[1].numpy())} == {3, 4}
    full = make_batch(seqs, max_history=10, n_items=40)
    assert full.candidates.tolist() == list(range(40)) and full.history_rows[0, 0] == 7


def test_rank_chunks_tile_the_rows_in_order() -> None:
    for total in (1, 5, 8, 9):
        for world in (1, 2, 3, 4):
            rows = torch.arange(total)
            gathered = torch.cat([pad_rows(rows[s:e], size, -1) for s, e, size in (chunk_bounds(total, world, r) for r in range(world))])
            assert gathered[:total].tolist() == list(range(total))
            assert gathered.shape[0] == world * -(-total // world)
