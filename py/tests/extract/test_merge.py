"""merge: ToMe bipartite soft matching keeps token mass and merges the most similar tokens first."""

from __future__ import annotations

import torch

from linkedout.extract.merge import tome_merge


def test_sizes_count_tokens_and_weighted_sum_is_preserved() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 37, 16, generator=g)
    merged, size = tome_merge(x, 5)
    assert merged.shape == (3, 5, 16) and size.shape == (3, 5)
    assert torch.equal(size.sum(-1), torch.full((3,), 37.0))
    # each merged token is the mean of the tokens it absorbed, so size-weighted sums equal input sums
    torch.testing.assert_close((merged * size.unsqueeze(-1)).sum(1), x.sum(1), rtol=1e-5, atol=1e-4)


def test_near_duplicates_are_merged_together() -> None:
    g = torch.Generator().manual_seed(1)
    base = torch.randn(6, 32, generator=g) * 5
    # 6 pairs of near-identical neighbours (c0 c0 c1 c1 ...): the alternating A/B split puts one of
    # each pair in A and its twin in B, so bipartite matching must merge exactly the pairs
    x = torch.stack([base[i // 2] + 0.01 * torch.randn(32, generator=g) for i in range(12)]).unsqueeze(0)
    merged, size = tome_merge(x, 6)
    assert size[0].tolist() == [2.0] * 6
    for k in range(6):
        pair_mean = x[0, 2 * k : 2 * k + 2].mean(0)
        assert (merged[0] - pair_mean).norm(dim=-1).min() < 1e-5


def test_fewer_tokens_than_target_are_padded_with_size_zero() -> None:
    x = torch.randn(2, 3, 8)
    merged, size = tome_merge(x, 5)
    assert torch.equal(merged[:, :3], x) and torch.equal(merged[:, 3:], torch.zeros(2, 2, 8))
    assert size.tolist() == [[1, 1, 1, 0, 0]] * 2


def test_sets_are_independent() -> None:
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 20, 8, generator=g)
    both, sb = tome_merge(x, 6)
    one, so = tome_merge(x[1:], 6)
    assert torch.equal(both[1:], one) and torch.equal(sb[1:], so)
