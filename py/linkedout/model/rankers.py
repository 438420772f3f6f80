"""Sequential user encoders (the ranker's user tower) and their explicit registry.

Every encoder maps a right-padded history of item vectors to one vector per position, causally:

    seq [B, L, d] (item vectors, oldest first; positions >= length are padding)  ->  out [B, L, d]

out[b, t] summarises items 0..t only, so with right padding the padded tail never leaks into a valid
position, and out[b, length-1] is the user vector. Scores are dot products with item vectors z_v.
Training uses every position (next-item prediction, as MicroLens's SASRec/GRU4Rec/NextItNet baselines).

- SASRec (Kang & McAuley, 2018): pre-LN causal transformer, learnable positions counted from the oldest item.
- GRU4Rec (Hidasi et al., 2016): a GRU over the sequence, then a linear output map.
- NextItNet (Yuan et al., 2019): stacked residual blocks of dilated causal 1-D convolutions.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .config import RankerConfig


class CausalSelfAttentionBlock(nn.Module):
    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm_attn = nn.LayerNorm(d)
        self.query = nn.Linear(d, d)
        self.key = nn.Linear(d, d, bias=False)  # a key bias shifts a query's logits uniformly: softmax ignores it
        self.value = nn.Linear(d, d)
        self.proj = nn.Linear(d, d)
        self.norm_ffn = nn.LayerNorm(d)
        self.ffn = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Dropout(dropout), nn.Linear(4 * d, d))
        self.dropout = nn.Dropout(dropout)
        self.attn_dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, length, d = x.shape
        h = self.norm_attn(x)
        q, k, v = (proj(h).reshape(b, length, self.heads, d // self.heads).transpose(1, 2) for proj in (self.query, self.key, self.value))
        attn = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                              dropout_p=self.attn_dropout if self.training else 0.0)  # [B, H, L, dh]
        x = x + self.dropout(self.proj(attn.transpose(1, 2).reshape(b, length, d)))
        return x + self.dropout(self.ffn(self.norm_ffn(x)))


class SASRecEncoder(nn.Module):
    def __init__(self, d: int, cfg: RankerConfig, dropout: float) -> None:
        super().__init__()
        self.positions = nn.Embedding(cfg.max_history, d)
        nn.init.normal_(self.positions.weight, std=0.02)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(CausalSelfAttentionBlock(d, cfg.heads, dropout) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(d)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        length = seq.shape[1]
        x = self.dropout(seq + self.positions.weight[:length])  # [B, L, d]
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


class GRU4RecEncoder(nn.Module):
    def __init__(self, d: int, cfg: RankerConfig, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.gru = nn.GRU(d, d, num_layers=cfg.layers, batch_first=True, dropout=dropout if cfg.layers > 1 else 0.0)
        self.out = nn.Linear(d, d)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.gru(self.dropout(seq).float())  # [B, L, d]; a GRU is causal by construction
        return self.out(hidden)


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

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        x = self.dropout(seq)
        for block in self.blocks:
            x = block(x)
        return self.out(x)


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

