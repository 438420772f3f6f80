"""Layer Token Compressor Expert and prompt mixing (paper §3.3.1).

For every tapped layer l the compressor turns that layer's tokens into one vector:

    e(l) = concat( C_old(l)(Merge_old(H_old(l))),  C_new(l)(H_new(l)) )  ∈ R^{d_c}

`Merge_old` (ToMe bipartite merging) already ran at extraction time — the TokenStore holds the merged
old tokens and each merged token's size (how many original tokens it averages). C_old and C_new are
attention pooling with learnable queries (a Set-Transformer "PMA" block). Where we are explicit about
something the paper leaves open:

- Proportional attention: the old branch adds log(size) to each merged token's attention logit, as ToMe
  does (Bolya et al., 2023, §3) so a token that stands for 30 patches weighs like 30 patches. Empty slots
  (size 0) get log 0 = -inf, i.e. are masked. `compressor.proportional_attention: false` turns it off.
- Each branch returns d_c/2 (queries flattened, then projected), so the concat is d_c.
- Prompt mixing (§3.3.2 mentions ẽ(l) is taken "after token compression and prompt mixing" without a
  formula): per tap, a learnable softmax over the P prompts of the prompt bank, shared across items,
  ẽ(l) = Σ_p softmax(w(l))_p e_p(l). The weights are readable (which prompt each layer listens to).

`ReductionProjector` is the Table 4 ablation path: it reads a stored parameter-free reduction (mean of
all old tokens, or the last token) and only projects it to d_c.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class AttentionPooling(nn.Module):
    """Multi-head attention pooling with `n_queries` learnable queries: [X, S, d_in] -> [X, d_out]."""

    def __init__(self, d_in: int, d_out: int, n_queries: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.d_out = d_out
        self.norm = nn.LayerNorm(d_in)
        # No key bias: it adds the same logit to every slot of a query, which softmax ignores (its gradient
        # is rounding noise that Adam would amplify into a random walk).
        self.key = nn.Linear(d_in, d_out, bias=False)
        self.value = nn.Linear(d_in, d_out)
        self.queries = nn.Parameter(torch.randn(n_queries, d_out) / math.sqrt(d_out))
        self.out = nn.Linear(n_queries * d_out, d_out)
        self.dropout = dropout

    def forward(self, tokens: torch.Tensor, logit_bias: torch.Tensor) -> torch.Tensor:
        # tokens [X, S, d_in] (any float dtype; the store keeps fp16/bf16)
        # logit_bias [X, S] float32, additive; -inf masks a slot
        x_count, seq_len, _ = tokens.shape
        head_dim = self.d_out // self.n_heads
        normed = self.norm(tokens.float())
        key, value = self.key(normed), self.value(normed)  # [X, S, d_out] each
        query = self.queries.unsqueeze(0).expand(x_count, -1, -1)  # [X, Q, d_out]

        def heads(t: torch.Tensor) -> torch.Tensor:  # [X, L, d_out] -> [X, H, L, dh]
            return t.reshape(x_count, t.shape[1], self.n_heads, head_dim).transpose(1, 2)

        # A row whose every slot is masked (no tokens at all) would give NaN; attend uniformly and zero it below.
        has_token = torch.isfinite(logit_bias).any(dim=-1)  # [X]
        bias = torch.where(has_token[:, None], logit_bias, torch.zeros_like(logit_bias))
        bias = bias[:, None, None, :].to(key.dtype)  # [X, 1, 1, S] broadcast over heads and queries
        pooled = F.scaled_dot_product_attention(
            heads(query.to(key.dtype)), heads(key), heads(value), attn_mask=bias,
            dropout_p=self.dropout if self.training else 0.0,
        )  # [X, H, Q, dh]
        pooled = pooled.transpose(1, 2).reshape(x_count, -1)  # [X, Q * d_out]
        return self.out(pooled) * has_token[:, None].to(pooled.dtype)  # [X, d_out]


class LayerTokenCompressor(nn.Module):
    """C(l): old branch (merged tokens, proportional attention) ‖ new branch -> e(l) ∈ R^{d_c}."""

    def __init__(self, d_model: int, d_c: int, old_queries: int, new_queries: int, heads: int,
                 proportional_attention: bool, dropout: float) -> None:
        super().__init__()
        self.proportional_attention = proportional_attention
        self.old_branch = AttentionPooling(d_model, d_c // 2, old_queries, heads, dropout)
        self.new_branch = AttentionPooling(d_model, d_c // 2, new_queries, heads, dropout)

    def forward(self, old_merged: torch.Tensor, old_size: torch.Tensor, new: torch.Tensor,
                new_valid: torch.Tensor) -> torch.Tensor:
        # old_merged [X, M, d], old_size [X, M] (0 = empty), new [X, N, d], new_valid [X, N] bool
        if self.proportional_attention:
            old_bias = torch.log(old_size.float())  # log 0 = -inf masks empty slots
        else:
            old_bias = torch.where(old_size > 0, 0.0, float("-inf")).float()
        new_bias = torch.where(new_valid, 0.0, float("-inf")).float()
        e_old = self.old_branch(old_merged, old_bias)  # [X, d_c/2]
        e_new = self.new_branch(new, new_bias)  # [X, d_c/2]
        return torch.cat([e_old, e_new], dim=-1)  # [X, d_c]


class ReductionProjector(nn.Module):
    """Ablation path (`pooling: mean | last_token`): LayerNorm + Linear of a stored reduction -> [X, d_c]."""

    def __init__(self, d_in: int, d_c: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_in)
        self.proj = nn.Linear(d_in, d_c)

    def forward(self, reduction: torch.Tensor) -> torch.Tensor:
        return self.proj(self.norm(reduction.float()))  # [X, d_in] -> [X, d_c]


class PromptMixer(nn.Module):
    """ẽ(l) = Σ_p softmax(w(l))_p e_p(l): [B, P, T, d_c] -> [B, T, d_c]; `learnable=False` = mean."""

    def __init__(self, n_taps: int, n_prompts: int, learnable: bool) -> None:
        super().__init__()
        self.learnable = learnable
        if learnable:
            self.logits = nn.Parameter(torch.zeros(n_taps, n_prompts))  # uniform at init
        self.n_prompts = n_prompts

    def weights(self) -> torch.Tensor:
        """[T, P] mixing weights (rows sum to 1)."""
        if self.learnable:
            return torch.softmax(self.logits, dim=-1)
        return torch.full((1, self.n_prompts), 1.0 / self.n_prompts)

    def forward(self, per_prompt: torch.Tensor) -> torch.Tensor:
        w = self.weights().to(per_prompt.device, per_prompt.dtype)  # [T or 1, P]
        return torch.einsum("bptc,tp->btc", per_prompt, w.expand(per_prompt.shape[2], -1))
