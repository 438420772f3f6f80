"""Sequential user encoders (the ranker's user tower) and their explicit registry.

Every encoder maps a right-padded history of item vectors to one vector per position, causally:

    seq [B, L, d] (item vectors, oldest first; positions >= length are padding)  ->  out [B, L, d]

out[b, t] summarises items 0..t only, so with right padding the padded tail never leaks into a valid
position, and out[b, length-1] is the user vector. Scores are dot products with item vectors z_v.
Training uses every position (next-item prediction, as MicroLens's SASRec/GRU4Rec/NextItNet baselines).

Given the lengths, an encoder returns the user vectors only, computing no more than they need:

    encoder(seq [B, L, d], lengths [B])  ->  users [B, d] = encoder(seq)[b, lengths_b - 1]

This is the one path behind `LinkedOutRecommender.encode_users`: evaluation during training, the
offline `rank` op and online serving. For SASRec it runs the last transformer block at the last
position only (its keys and values still cover every position): exact, and ~37% fewer multiply-adds
for the default 2-block tower over 10 items.

- SASRec (Kang & McAuley, 2018): causal transformer, learnable positions counted from the oldest item;
  LayerNorm before each sub-layer (`ranker.norm: pre`, the paper's) or after each residual sum with one on
  the input embeddings (`post`, BERT's and RecBole's; the ID baselines' — docs/model.md "ID baselines").
- GRU4Rec (Hidasi et al., 2016): a GRU over the sequence, then a linear output map.
- NextItNet (Yuan et al., 2019): stacked residual blocks of dilated causal 1-D convolutions.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .config import RankerConfig, RankerNorm


class CausalSelfAttentionBlock(nn.Module):
    """One SASRec block.  pre:  x <- x + Attn(LN(x));  x <- x + FFN(LN(x))
                          post: x <- LN(x + Attn(x));  x <- LN(x + FFN(x))"""

    def __init__(self, d: int, heads: int, dropout: float, norm: RankerNorm) -> None:
        super().__init__()
        self.heads = heads
        self.pre_norm = norm == "pre"
        self.norm_attn = nn.LayerNorm(d)
        self.query = nn.Linear(d, d)
        self.key = nn.Linear(d, d, bias=False)  # a key bias shifts a query's logits uniformly: softmax ignores it
        self.value = nn.Linear(d, d)
        self.proj = nn.Linear(d, d)
        self.norm_ffn = nn.LayerNorm(d)
        self.ffn = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Dropout(dropout), nn.Linear(4 * d, d))
        self.dropout = nn.Dropout(dropout)
        self.attn_dropout = dropout

    def _split_heads(self, t: torch.Tensor) -> torch.Tensor:
        # (unflatten, not reshape with d // heads: a traced graph then holds no size arithmetic)
        return t.unflatten(-1, (self.heads, -1)).transpose(1, 2)  # [B, L, d] -> [B, H, L, d/H]

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """x [B, L, d] -> [B, L, d]. With ``lengths`` [B] (right padding): position lengths_b - 1 only,
        [B, d] — its query, attention output and FFN; keys and values over all positions as before."""
        b, length, d = x.shape
        h = self.norm_attn(x) if self.pre_norm else x  # the attention's input
        k, v = self._split_heads(self.key(h)), self._split_heads(self.value(h))  # [B, H, L, dh]
        if lengths is None:
            q = self._split_heads(self.query(h))  # [B, H, L, dh]
            mask, causal = None, True
        else:
            lengths = lengths.to(x.device)
            last = (torch.arange(b, device=x.device), lengths - 1)
            x, h = x[last].unsqueeze(1), h[last].unsqueeze(1)  # [B, 1, d]
            q = self._split_heads(self.query(h))  # [B, H, 1, dh]
            # the causal mask's row for position lengths_b - 1: keys 0..lengths_b - 1
            # (unsqueeze rather than [:, None]: a traced graph, which the serving tower is, gets fewer ops)
            mask = (torch.arange(length, device=x.device) < lengths.unsqueeze(1)).unsqueeze(1).unsqueeze(1)  # [B, 1, 1, L]
            causal = False
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal,
                                              dropout_p=self.attn_dropout if self.training else 0.0)  # [B, H, L or 1, dh]
        attended = self.dropout(self.proj(attn.transpose(1, 2).flatten(2)))  # [B, L or 1, d]
        if self.pre_norm:
            x = x + attended
            x = x + self.dropout(self.ffn(self.norm_ffn(x)))
        else:
            x = self.norm_attn(x + attended)
            x = self.norm_ffn(x + self.dropout(self.ffn(x)))
        return x if lengths is None else x.squeeze(1)


class SASRecEncoder(nn.Module):
    def __init__(self, d: int, cfg: RankerConfig, dropout: float) -> None:
        super().__init__()
        self.positions = nn.Embedding(cfg.max_history, d)
        nn.init.normal_(self.positions.weight, std=0.02)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(CausalSelfAttentionBlock(d, cfg.heads, dropout, cfg.norm) for _ in range(cfg.layers))
        self.pre_norm = cfg.norm == "pre"
        self.norm = nn.LayerNorm(d)  # pre: after the last block; post: on the input embeddings

    def forward(self, seq: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """[B, L, d] -> [B, L, d]; with ``lengths`` [B] -> the user vectors [B, d] (module docstring)."""
        length = seq.shape[1]
        x = seq + self.positions.weight[:length]  # [B, L, d]
        x = self.dropout(x if self.pre_norm else self.norm(x))
        *inner, final = self.blocks
        for block in inner:
            x = block(x)  # [B, L, d]: the final block's keys and values need every position
        out = final(x, lengths)  # [B, L, d], or [B, d] at lengths - 1
        return self.norm(out) if self.pre_norm else out


class GRU4RecEncoder(nn.Module):
    def __init__(self, d: int, cfg: RankerConfig, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.gru = nn.GRU(d, d, num_layers=cfg.layers, batch_first=True, dropout=dropout if cfg.layers > 1 else 0.0)
        self.out = nn.Linear(d, d)

    def forward(self, seq: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        hidden, _ = self.gru(self.dropout(seq).float())  # [B, L, d]; a GRU is causal by construction
        return self.out(hidden if lengths is None else last_position(hidden, lengths))  # [B, L, d] or [B, d]


class DilatedResidualBlock(nn.Module):
    """NextItNet block: LN -> causal conv (dilation r) -> ReLU -> LN -> causal conv (2r) -> ReLU, + input."""

    def __init__(self, d: int, kernel: int, dilation: int) -> None:
        super().__init__()
        self.kernel = kernel
        self.dilation = dilation
        self.norm1 = nn.LayerNorm(d)
        self.conv1 = nn.Conv1d(d, d, kernel, dilation=dilation)
        self.norm2 = nn.LayerNorm(d)
        self.conv2 = nn.Conv1d(d, d, kernel, dilation=2 * dilation)

    def _causal_conv(self, conv: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
        pad = (self.kernel - 1) * conv.dilation[0]
        return conv(F.pad(x.transpose(1, 2), (pad, 0))).transpose(1, 2)  # left pad only: no look-ahead

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self._causal_conv(self.conv1, self.norm1(x)))
        y = F.relu(self._causal_conv(self.conv2, self.norm2(y)))
        return x + y


class NextItNetEncoder(nn.Module):
    def __init__(self, d: int, cfg: RankerConfig, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            DilatedResidualBlock(d, cfg.kernel_size, r) for _ in range(cfg.layers) for r in cfg.dilations
        )
        self.out = nn.Linear(d, d)

    def forward(self, seq: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        x = self.dropout(seq)
        for block in self.blocks:
            x = block(x)
        return self.out(x if lengths is None else last_position(x, lengths))  # [B, L, d] or [B, d]


RankerFactory = Callable[[int, RankerConfig, float], nn.Module]

RANKERS: dict[str, RankerFactory] = {
    "sasrec": SASRecEncoder,
    "gru4rec": GRU4RecEncoder,
    "nextitnet": NextItNetEncoder,
}
"""The explicit ranker registry (config `recommender.ranker.name`)."""


def build_user_encoder(d: int, cfg: RankerConfig, dropout: float) -> nn.Module:
    if cfg.name not in RANKERS:
        raise ValueError(f"recommender.ranker.name: unknown ranker {cfg.name!r} (known: {', '.join(RANKERS)})")
    return RANKERS[cfg.name](d, cfg, dropout)


def last_position(per_position: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """User vectors out[b, length_b - 1]: [B, L, d], [B] -> [B, d]."""
    return per_position[torch.arange(per_position.shape[0], device=per_position.device), lengths - 1]

