"""Parameter-free token reduction at extraction time (paper §3.3.1 "Merge_old", after ToMe [3]).

The paper merges old tokens inside each layer's compressor expert ("the old branch uses more
aggressive merging"). Merging has no parameters, so we do it once at extraction time and store the
result; every ablation then trains on the same merged tokens. Departure: the merge runs on the
hidden states themselves (cosine similarity), since the attention keys of the frozen model are not
kept — ToMe uses keys; on a frozen model's hidden states both serve as the similarity metric.

``tome_merge(x, sizes, M)``: bipartite soft matching, repeated until M tokens remain. Each round
splits the tokens alternately into sets A and B, matches every A token to its most similar B token,
and merges the r most similar A tokens into their match by size-weighted average (sizes add up), so a
merged token is the mean of the original tokens it stands for and ``sizes`` sum to the input count.
With fewer than M input tokens the output is zero-padded with size 0 (a reader's mask).
"""

from __future__ import annotations

import torch


def _merge_round(x: torch.Tensor, size: torch.Tensor, r: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One bipartite round over a batch: x [T, N, d], size [T, N] -> [T, N-r, d], [T, N-r]."""
    a, b = x[:, 0::2], x[:, 1::2]  # [T, Na, d], [T, Nb, d]
    sa, sb = size[:, 0::2], size[:, 1::2]
    an = a / a.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    bn = b / b.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    scores = an @ bn.transpose(1, 2)  # [T, Na, Nb] cosine similarity
    best, match = scores.max(dim=-1)  # [T, Na]
    order = torch.argsort(best, dim=-1, descending=True, stable=True)
    merged_a, kept_a = order[:, :r], order[:, r:]  # [T, r], [T, Na-r]
    kept_a = kept_a.sort(dim=-1).values  # keep the survivors in sequence order
    dst = match.gather(1, merged_a)  # [T, r] index into B

    # size-weighted sums into B: b*sb + sum(a*sa) over merged a, then divide by the new size
    d = x.shape[-1]
    wa = (a * sa.unsqueeze(-1)).gather(1, merged_a.unsqueeze(-1).expand(-1, -1, d))  # [T, r, d]
    b_sum = (b * sb.unsqueeze(-1)).scatter_add(1, dst.unsqueeze(-1).expand(-1, -1, d), wa)
    sb_new = sb.scatter_add(1, dst, sa.gather(1, merged_a))
    b_new = b_sum / sb_new.unsqueeze(-1)
    a_keep = a.gather(1, kept_a.unsqueeze(-1).expand(-1, -1, d))
    sa_keep = sa.gather(1, kept_a)
    return torch.cat([a_keep, b_new], dim=1), torch.cat([sa_keep, sb_new], dim=1)


def tome_merge(x: torch.Tensor, target: int, size: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Merge tokens down to ``target``: x [T, N, d] (T independent sets, e.g. taps) -> ([T, M, d], [T, M]).

    Computed in float32. N <= M: returned as is, zero-padded to M with size 0.
    """
    if x.dim() != 3:
        raise ValueError(f"tome_merge: x must be [T, N, d], got {tuple(x.shape)}")
    if target < 1:
        raise ValueError(f"tome_merge: target {target} must be >= 1")
    x = x.float()
    t, n, d = x.shape
    size = torch.ones(t, n, dtype=torch.float32, device=x.device) if size is None else size.float()
    while x.shape[1] > target:
        n = x.shape[1]
        r = min(n - target, n // 2)  # at most |A| = ceil(n/2) merges per round; n//2 keeps B non-empty
        x, size = _merge_round(x, size, r)
    if x.shape[1] < target:
        pad = target - x.shape[1]
        x = torch.cat([x, x.new_zeros(t, pad, d)], dim=1)
        size = torch.cat([size, size.new_zeros(t, pad)], dim=1)
    return x, size
