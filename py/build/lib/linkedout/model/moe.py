"""Cross-Layer Knowledge MoE Fuser (paper §3.3.2, Eq. 2-3).

Each tapped layer is an expert:   h(l) = E(l)(ẽ(l)) ∈ R^{d_z}   (E(l): MLP with a residual connection)
An item-conditioned gate mixes them:  π = Softmax(G(g)),  z_v = Σ_l π_l h(l)

The paper writes π = Softmax(G(z_v)) "without circular dependence" but z_v is itself made from π; we
feed the gate g = mean_l h(l), the unweighted mean of the experts' outputs, which depends on the item
only (not on π) — the nearest non-circular reading. Dense soft gating over all taps is the default (as
the paper); `top_k > 0` keeps the k largest logits per item (softmax renormalised over them) and adds
a Switch-Transformer load-balancing loss (Fedus et al., 2022, Eq. 4): T · Σ_l f_l · P_l, with f_l the
fraction of items routed to l (divided by k) and P_l the mean dense gate probability.

All experts run for every item even with top-k (there are only a handful): every parameter then takes
part in every step, which keeps one-process and DDP runs identical.

`fusion: none` (Table 4 ablation) replaces the gate by uniform weights 1/T — with `layers: last` that is
the single last-layer expert.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


class ResidualMLPExpert(nn.Module):
    """E(l): ẽ(l) [X, d_c] -> h(l) [X, d_z] = y + MLP(LN(y)), y = W_in ẽ(l)."""

    def __init__(self, d_c: int, d_z: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.proj_in = nn.Linear(d_c, d_z)
        self.mlp = nn.Sequential(nn.LayerNorm(d_z), nn.Linear(d_z, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, d_z))

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        y = self.proj_in(e)
        return y + self.mlp(y)


@dataclass
class FusionOutput:
    z: torch.Tensor  # [X, d_z]   fused item vector z_v
    gates: torch.Tensor  # [X, T] π actually used (sparse with top-k, uniform with fusion none)
    gate_probs: torch.Tensor  # [X, T] dense softmax of the gate logits (load balancing reads it)
    routed: torch.Tensor  # [X, T] 1.0 where the tap is among the item's top-k (all ones when dense)


class CrossLayerMoE(nn.Module):
    """[X, T, d_c] per-layer vectors -> z_v [X, d_z] and gates π [X, T]."""

    def __init__(self, n_taps: int, d_c: int, d_z: int, expert_hidden: int, gate_hidden: int, top_k: int,
                 use_gate: bool, dropout: float) -> None:
        super().__init__()
        self.n_taps = n_taps
        self.top_k = top_k
        self.experts = nn.ModuleList(ResidualMLPExpert(d_c, d_z, expert_hidden, dropout) for _ in range(n_taps))
        self.gate = (
            nn.Sequential(nn.LayerNorm(d_z), nn.Linear(d_z, gate_hidden), nn.GELU(), nn.Linear(gate_hidden, n_taps))
            if use_gate else None
        )

    def forward(self, e: torch.Tensor) -> FusionOutput:
        h = torch.stack([expert(e[:, l]) for l, expert in enumerate(self.experts)], dim=1)  # [X, T, d_z]
        if self.gate is None:
            uniform = torch.full(h.shape[:2], 1.0 / self.n_taps, device=h.device, dtype=torch.float32)
            return FusionOutput(z=h.mean(dim=1), gates=uniform, gate_probs=uniform, routed=torch.ones_like(uniform))
        logits = self.gate(h.mean(dim=1)).float()  # [X, T]; input independent of π (see module doc)
        probs = torch.softmax(logits, dim=-1)
        if 0 < self.top_k < self.n_taps:
            kept = torch.topk(logits, self.top_k, dim=-1).indices  # [X, k]
            routed = torch.zeros_like(probs).scatter(1, kept, 1.0)
            gates = torch.softmax(logits.masked_fill(routed == 0, float("-inf")), dim=-1)
        else:
            routed = torch.ones_like(probs)
            gates = probs
        z = torch.einsum("xt,xtd->xd", gates.to(h.dtype), h)  # Σ_l π_l h(l)
        return FusionOutput(z=z, gates=gates, gate_probs=probs, routed=routed)


def load_balancing_loss(gate_probs: torch.Tensor, routed: torch.Tensor, top_k: int) -> torch.Tensor:
    """Switch load-balancing loss T · Σ_l f_l P_l over a batch of items ([X, T] each); 1.0 when balanced."""
    n_taps = gate_probs.shape[1]
    fraction_routed = routed.float().mean(dim=0) / max(top_k, 1)  # f_l
    mean_prob = gate_probs.float().mean(dim=0)  # P_l
    return n_taps * (fraction_routed * mean_prob).sum()
