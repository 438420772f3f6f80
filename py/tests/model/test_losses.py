"""Loss terms against their definitions: popularity-corrected softmax CE, DirectAU alignment/uniformity."""

import math

import torch
import torch.nn.functional as F

from linkedout.model.losses import LossWeights, alignment, recommendation_loss, uniformity

torch.set_num_threads(1)


def test_uniformity_and_alignment_match_their_formulas() -> None:
    torch.manual_seed(0)
    x = torch.randn(5, 4)
    xn = F.normalize(x, dim=-1)
    pairs = [(i, j) for i in range(5) for j in range(i + 1, 5)]
    expected = math.log(sum(math.exp(-2 * float((xn[i] - xn[j]).pow(2).sum())) for i, j in pairs) / len(pairs))
    assert abs(float(uniformity(x)) - expected) < 1e-5
    y = torch.randn(5, 4)
    yn = F.normalize(y, dim=-1)
    assert abs(float(alignment(x, y)) - float(((xn - yn) ** 2).sum(-1).mean())) < 1e-6
    assert float(uniformity(x[:1])) == 0.0


def _inputs():
    torch.manual_seed(1)
    per_position = torch.randn(2, 3, 4)
    candidates = torch.randn(5, 4)
    target_rows = torch.tensor([[1, 2, -1], [4, 0, 3]])
    lengths = torch.tensor([2, 3])
    user_items = torch.zeros(2, 5, dtype=torch.bool)
    user_items[0, [0, 1, 2]] = True
    user_items[1, [4, 0, 3, 2]] = True
    return per_position, lengths, target_rows, candidates, user_items


def test_cross_entropy_has_popularity_correction_and_no_false_negatives() -> None:
    per_position, lengths, target_rows, candidates, user_items = _inputs()
    log_pop = torch.log(torch.tensor([1.0, 5.0, 2.0, 9.0, 3.0]))
    empty = torch.zeros(5, 0)
    terms = recommendation_loss(per_position, lengths, target_rows, candidates, log_pop, user_items, empty, empty, 0,
                                LossWeights(align=0.0, uniformity=0.0))
    total = 0.0
    positions = [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2)]
    for b, t in positions:
        tgt = int(target_rows[b, t])
        logits = candidates @ per_position[b, t] - log_pop
        keep = [c for c in range(5) if c == tgt or not user_items[b, c]]
        total += float(torch.logsumexp(logits[keep], 0) - logits[tgt])
    assert abs(float(terms.ce) - total / len(positions)) < 1e-5
    assert abs(float(terms.total) - float(terms.ce)) < 1e-6


def test_cross_entropy_keeps_the_users_items_as_negatives_when_asked() -> None:
    """train.loss.exclude_user_items=false (RecBole's objective): every item but the target is a negative."""
    per_position, lengths, target_rows, candidates, user_items = _inputs()
    empty = torch.zeros(5, 0)
    terms = recommendation_loss(per_position, lengths, target_rows, candidates, None, user_items, empty, empty, 0,
                                LossWeights(align=0.0, uniformity=0.0), exclude_user_items=False)
    positions = [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2)]
    total = 0.0
    for b, t in positions:
        logits = candidates @ per_position[b, t]
        total += float(torch.logsumexp(logits, 0) - logits[int(target_rows[b, t])])
    assert abs(float(terms.ce) - total / len(positions)) < 1e-5


def test_total_weights_the_terms() -> None:
    per_position, lengths, target_rows, candidates, user_items = _inputs()
    empty = torch.zeros(5, 0)
    t = recommendation_loss(per_position, lengths, target_rows, candidates, None, user_items, empty, empty, 0,
                            LossWeights(align=0.5, uniformity=2.0))
    assert abs(float(t.total) - float(t.ce + 0.5 * t.align + 2.0 * t.uniformity)) < 1e-5
    assert float(t.align) > 0 and float(t.uniformity) < 0


def test_zero_weight_terms_are_not_computed_and_uniformity_reads_the_batch_items() -> None:
    per_position, lengths, target_rows, candidates, user_items = _inputs()
    empty = torch.zeros(7, 0)
    # two catalogue rows no user of the batch holds (negatives=full): negatives for CE, not part of uniformity
    catalogue = torch.cat([candidates, torch.randn(2, 4)])
    held = torch.cat([user_items, torch.zeros(2, 2, dtype=torch.bool)], dim=1)
    off = recommendation_loss(per_position, lengths, target_rows, catalogue, None, held, empty, empty, 0,
                              LossWeights(align=0.0, uniformity=0.0))
    assert float(off.align) == 0.0 and float(off.uniformity) == 0.0 and float(off.total) == float(off.ce)
    on = recommendation_loss(per_position, lengths, target_rows, catalogue, None, held, empty, empty, 0,
                             LossWeights(align=1.0, uniformity=1.0))
    users_last = per_position[torch.arange(2), lengths - 1]
    expected = 0.5 * (float(uniformity(users_last)) + float(uniformity(candidates)))
    assert abs(float(on.uniformity) - expected) < 1e-5
    assert float(on.ce) == float(off.ce)
