"""Training objective (paper §4.3; MicroLens baselines; DirectAU, Wang et al., KDD 2022).

    L = L_ce + w_align · L_align + γ · L_unif + w_lb · L_lb

- L_ce: next-item softmax cross-entropy over the candidate set (the batch's distinct items, "in-batch",
  or the whole catalogue), with the log-popularity correction of MicroLens's baselines
  (logit − log(train_count + 1), a sampled-softmax / logQ correction: popular items appear as in-batch
  negatives more often). Items of the user's own sequence other than the target are not negatives.
- L_align = E‖ũ − ĩ‖² over (user position, target item) pairs, on L2-normalised vectors.
- L_unif  = ½ [log E exp(−2‖ũ − ũ'‖²) over users + the same over the batch's items] (the candidates
  in-batch; with negatives=full still the batch's items, not the catalogue: pdist is quadratic).
A term whose weight is 0 is not computed.
- L_lb: the MoE load-balancing loss (top-k gating only; 0 when dense).

Computed in float32 outside autocast (the caller disables it): softmax over thousands of logits in bf16
loses the target's probability mass.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .moe import load_balancing_loss
from .rankers import last_position


@dataclass
class LossWeights:
    align: float = 1.0
    uniformity: float = 1.0  # γ
    load_balance: float = 0.0


@dataclass
class LossTerms:
    total: torch.Tensor
    ce: torch.Tensor
    align: torch.Tensor
    uniformity: torch.Tensor
    load_balance: torch.Tensor

    def as_floats(self) -> dict[str, float]:
        return {k: float(v.detach()) for k, v in self.__dict__.items()}


def uniformity(x: torch.Tensor) -> torch.Tensor:
    """log E exp(−2‖x − x'‖²) over distinct pairs of rows of L2-normalised x [n, d]; 0 for n < 2."""
    if x.shape[0] < 2:
        return x.sum() * 0.0
    return torch.pdist(F.normalize(x, dim=-1), p=2).pow(2).mul(-2).exp().mean().log()


def own_items_except_target(user_items: torch.Tensor, owner: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(position, candidate) pairs to mask: the items of each position's user other than its target.

    user_items [B, C] bool, owner [N], targets [N] -> rows [M], cols [M]; M ≈ N · (sequence length), so the
    mask is never an [N, C] tensor (with negatives=full, C is the whole catalogue)."""
    user_of_pair, item_of_pair = torch.nonzero(user_items, as_tuple=True)  # sorted by user
    count = torch.bincount(user_of_pair, minlength=user_items.shape[0])  # [B]
    first = torch.cumsum(count, 0) - count  # [B] offset of each user's first pair
    reps = count[owner]  # [N]
    rows = torch.repeat_interleave(torch.arange(owner.shape[0], device=owner.device), reps)  # [M]
    within = torch.arange(rows.shape[0], device=owner.device) - torch.repeat_interleave(torch.cumsum(reps, 0) - reps, reps)
    cols = item_of_pair[first[owner][rows] + within]
    keep = cols != targets[rows]
    return rows[keep], cols[keep]


def alignment(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """E‖ũ − ṽ‖² over paired rows."""
    return (F.normalize(u, dim=-1) - F.normalize(v, dim=-1)).pow(2).sum(dim=-1).mean()


def recommendation_loss(
    per_position: torch.Tensor,  # [B, L, d] user vector after each position
    lengths: torch.Tensor,  # [B] history lengths (>= 1)
    target_rows: torch.Tensor,  # [B, L] candidate row of the next item, -1 on padding
    candidates: torch.Tensor,  # [C, d] candidate item vectors z_v
    log_popularity: torch.Tensor | None,  # [C] log(train_count + 1), None = no correction
    user_items: torch.Tensor,  # [B, C] bool: candidate is in the user's sequence
    gate_probs: torch.Tensor,  # [C, T] dense gate probabilities (T may be 0)
    routed: torch.Tensor,  # [C, T]
    top_k: int,
    weights: LossWeights,
    exclude_user_items: bool = True,  # False: the user's other items stay negatives (RecBole's sequential CE)
) -> LossTerms:
    per_position = per_position.float()
    candidates = candidates.float()
    valid = target_rows >= 0  # [B, L]
    users = per_position[valid]  # [N, d]
    targets = target_rows[valid]  # [N]
    owner = torch.arange(per_position.shape[0], device=valid.device)[:, None].expand_as(valid)[valid]  # [N]

    logits = users @ candidates.T  # [N, C]
    if log_popularity is not None:
        logits = logits - log_popularity[None, :]
    if exclude_user_items:
        rows, cols = own_items_except_target(user_items, owner, targets)
        logits = logits.index_put((rows, cols), torch.tensor(float("-inf"), device=logits.device))
    ce = F.cross_entropy(logits, targets)

    zero = ce * 0.0
    # A term with weight 0 is not computed (uniformity over a full catalogue is quadratic in its size).
    align = alignment(users, candidates[targets]) if weights.align else zero
    if weights.uniformity:
        # the batch's own items (DirectAU): all candidates in-batch; with negatives=full not the whole catalogue
        batch_items = candidates[user_items.any(0)]
        unif = 0.5 * (uniformity(last_position(per_position, lengths)) + uniformity(batch_items))
    else:
        unif = zero
    if gate_probs.shape[1] > 0 and top_k > 0 and weights.load_balance:
        lb = load_balancing_loss(gate_probs, routed, top_k)
    else:
        lb = zero
    total = ce + weights.align * align + weights.uniformity * unif + weights.load_balance * lb
    return LossTerms(total=total, ce=ce, align=align, uniformity=unif, load_balance=lb)
