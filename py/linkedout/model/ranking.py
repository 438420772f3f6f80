"""The one ranking implementation: offline evaluation, the `rank` op and online serving all call it.

Tie rule (docs/model.md, "Ranking"): items are ordered by score descending, equal scores by catalogue
index ascending; masked items score -inf and are never listed. So for a target t of a user

    rank(t) = 1 + #{v : s_v > s_t} + #{v : s_v == s_t and v < t}

No full sort (docs/scale.md): the rank is counted, the top-K taken by partial selection (`torch.topk`),
the K-th boundary made exact for the rows whose boundary cuts a run of equal scores, and masks
written with one scatter. Depends on torch only, so train, serve and bench import it without cycles.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

# Working memory a ranking batch may use: scores plus ~2 same-sized temporaries (bool masks, counts).
RANK_BATCH_BYTES = 256 * 1024 * 1024


def batch_rows(n_items: int, requested: int, budget_bytes: int = RANK_BATCH_BYTES) -> int:
    """Users per ranking batch: `requested`, lowered so [users, n_items] float32 scores + temporaries fit the budget."""
    per_user = max(1, n_items) * 4 * 3
    return max(1, min(requested, budget_bytes // per_user))


def flat_mask(masked: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-user masked catalogue indices -> (rows [M], cols [M]) int64, for `mask_scores_`."""
    if len(masked) == 0:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
    lengths = np.fromiter((len(m) for m in masked), dtype=np.int64, count=len(masked))
    rows = np.repeat(np.arange(len(masked), dtype=np.int64), lengths)
    cols = np.concatenate(masked).astype(np.int64, copy=False) if lengths.sum() else np.zeros(0, np.int64)
    return torch.from_numpy(rows), torch.from_numpy(cols)


def mask_scores_(scores: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """scores[rows[i], cols[i]] = -inf in place (one index_put); returns scores."""
    if rows.numel():
        scores.index_put_((rows.to(scores.device), cols.to(scores.device)), torch.tensor(float("-inf"), device=scores.device))
    return scores


def target_ranks(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """1-based ranks [U] (int64) of targets [U] in scores [U, N] under the tie rule, by counting."""
    users = torch.arange(scores.shape[0], device=scores.device)
    target_score = scores[users, targets][:, None]  # [U, 1]
    higher = (scores > target_score).sum(1)
    equal = (scores == target_score).sum(1)  # >= 1 (the target itself)
    ranks = 1 + higher
    tied = torch.nonzero(equal > 1).flatten()  # rows where another item shares the target's score
    if tied.numel():
        sub = scores[tied]  # [R, N]
        index = torch.arange(scores.shape[1], device=scores.device)[None, :]
        before = ((sub == target_score[tied]) & (index < targets[tied, None])).sum(1)
        ranks[tied] += before
    return ranks


def top_k(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first k items of each row under the tie rule: (values [U, k], catalogue indices [U, k]).

    torch.topk picks the k largest but says nothing about which of several equal scores it keeps at
    the K-th boundary, nor their order. Rows where the boundary value is shared by more items than fit
    (rare with real-valued scores) are re-selected exactly: everything above the boundary plus the
    lowest-index items equal to it. Then equal values are ordered by index ascending.
    """
    n = scores.shape[1]
    k = min(k, n)
    # one extra item tells, without another pass over the scores, whether the K-th value is shared beyond K
    values, index = torch.topk(scores, min(k + 1, n), dim=1, sorted=True)
    if k == 0:
        return values[:, :0], index[:, :0]
    # no two neighbouring values equal (the usual case with real-valued scores): topk's descending order
    # is already the tie rule's, and the re-selection and re-ordering below would change nothing
    if not bool((values[:, 1:] == values[:, :-1]).any()):
        return values[:, :k], index[:, :k]
    cut = torch.nonzero(values[:, k] == values[:, k - 1]).flatten() if k < n else index[:0, 0]
    values, index = values[:, :k].contiguous(), index[:, :k].contiguous()
    boundary = values[:, -1:]  # [U, 1]
    if cut.numel():
        sub = scores[cut]  # [R, N]
        above = sub > boundary[cut]
        at = sub == boundary[cut]
        room = k - above.sum(1, keepdim=True)  # [R, 1] places left for boundary items
        chosen = above | (at & (torch.cumsum(at, dim=1) <= room))  # exactly k per row
        cols = torch.nonzero(chosen)[:, 1].view(-1, k)  # ascending index within each row
        index[cut] = cols
        values[cut] = sub.gather(1, cols)
    # order: by index ascending, then a stable sort by value descending keeps index order within ties
    index, by_index = torch.sort(index, dim=1)
    values = values.gather(1, by_index)
    order = torch.sort(values, dim=1, descending=True, stable=True).indices
    return values.gather(1, order), index.gather(1, order)


def rank_batch(scores: torch.Tensor, targets: torch.Tensor, mask_rows: torch.Tensor, mask_cols: torch.Tensor,
               k: int) -> tuple[torch.Tensor, list[np.ndarray]]:
    """Mask (in place), rank the targets and list the top k (masked items dropped) for one batch.

    scores [U, N] (modified), targets [U], mask_rows/mask_cols [M] -> ranks [U] int64 (cpu), top-k index arrays.
    """
    mask_scores_(scores, mask_rows, mask_cols)
    ranks = target_ranks(scores, targets.to(scores.device)).cpu()
    top: list[np.ndarray] = []
    if k > 0:
        values, index = top_k(scores, k)
        finite = torch.isfinite(values).cpu().numpy()
        index_np = index.cpu().numpy()
        top = [row[keep] for row, keep in zip(index_np, finite)]
    return ranks, top
