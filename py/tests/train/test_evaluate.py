"""Exact ranks under the MicroLens protocol: masking, the tie rule, top-K."""

import numpy as np
import torch

from linkedout.train.evaluate import rank_targets


def test_ties_break_by_catalogue_index_and_masked_items_score_minus_infinity() -> None:
    scores = torch.tensor([
        [0.5, 0.9, 0.5, 0.1, 0.5],  # target 2: one higher (1), one equal with lower index (0) -> rank 3
        [0.5, 0.9, 0.5, 0.1, 0.5],  # target 0: one higher -> rank 2; the equal ones at 2, 4 come after
        [0.5, 0.9, 0.5, 0.1, 0.5],  # target 3 with 1 masked: 0, 2, 4 higher -> rank 4
        [0.5, 0.9, 0.5, 0.1, 0.5],  # target 1 masked: ranks after all 3 unmasked items and masked item 0 -> 5
    ])
    masked = [np.array([], dtype=np.int64), np.array([], dtype=np.int64), np.array([1]), np.array([0, 1])]
    ranks, top = rank_targets(scores, torch.tensor([2, 0, 3, 1]), masked, topk=4)
    assert ranks.tolist() == [3, 2, 4, 5]
    assert top[0].tolist() == [1, 0, 2, 4]  # equal scores in catalogue order
    assert top[2].tolist() == [0, 2, 4, 3]  # masked item 1 never listed
    assert top[3].tolist() == [2, 4, 3]  # fewer unmasked items than K: the list is shorter
    assert scores[2, 1] == 0.9  # the caller's scores are not modified


def test_rank_matches_position_in_a_full_stable_sort() -> None:
    gen = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 4, (50, 30), generator=gen).float()  # many ties
    targets = torch.randint(0, 30, (50,), generator=gen)
    masked = [np.array([], dtype=np.int64)] * 50
    ranks, top = rank_targets(scores, targets, masked, topk=30)
    for u in range(50):
        assert top[u].tolist().index(int(targets[u])) + 1 == int(ranks[u])
