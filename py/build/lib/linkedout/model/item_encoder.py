"""Item tower: TokenStore features of an item -> z_v ∈ R^{d_z} and gate weights π (paper §3.3).

    per prompt p, per tap l:  e_p(l) = C(l)(old, new)          (pooling: compressor)
                          or  e_p(l) = Proj(l)(reduction)      (pooling: mean | last_token)
    ẽ(l) = PromptMixer(e_·(l))                                  [B, T, d_c]
    z_v, π = CrossLayerMoE(ẽ)                                   [B, d_z], [B, T]
    z_v += IDEmbedding(v)                                       (item_id_embeddings: "+V" variants)

ID-only mode (`item_content: false`): z_v = IDEmbedding(v), π is empty ([B, 0]).

Items without content (`present` False: extraction failed for that video) get one learnable
"no content" vector in place of the fused content vector and uniform gates; this keeps such items
rankable instead of dropping users whose history mentions them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .compressor import LayerTokenCompressor, PromptMixer, ReductionProjector
from .config import RecommenderConfig
from .features import ItemFeatures
from .moe import CrossLayerMoE


@dataclass
class ItemEncoding:
    z: torch.Tensor  # [B, d_z] fused item vectors
    gates: torch.Tensor  # [B, T] π (T = 0 in ID-only mode)
    gate_probs: torch.Tensor  # [B, T] dense gate softmax (load balancing)
    routed: torch.Tensor  # [B, T] top-k routing indicator


class ItemEncoder(nn.Module):
    def __init__(self, cfg: RecommenderConfig, n_items: int, d_model: int, n_taps: int, n_prompts: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.n_taps = n_taps if cfg.item_content else 0
        self.content: nn.ModuleDict | None = None
        if cfg.item_content:
            if cfg.pooling == "compressor":
                per_tap: list[nn.Module] = [
                    LayerTokenCompressor(d_model, cfg.d_c, cfg.compressor.old_queries, cfg.compressor.new_queries,
                                         cfg.compressor.heads, cfg.compressor.proportional_attention, cfg.dropout)
                    for _ in range(n_taps)
                ]
            else:
                d_in = 2 * d_model if (cfg.pooling == "last_token" and cfg.last_token_source == "both") else d_model
                per_tap = [ReductionProjector(d_in, cfg.d_c) for _ in range(n_taps)]
            self.content = nn.ModuleDict({
                "per_tap": nn.ModuleList(per_tap),
                "prompt_mixer": PromptMixer(n_taps, n_prompts, cfg.compressor.prompt_mixing),
                "fuser": CrossLayerMoE(n_taps, cfg.d_c, cfg.d_z, cfg.moe.expert_hidden, cfg.moe.gate_hidden,
                                       cfg.moe.top_k, use_gate=cfg.fusion == "moe", dropout=cfg.dropout),
            })
            self.no_content = nn.Parameter(torch.zeros(cfg.d_z))
        self.id_embedding = nn.Embedding(n_items, cfg.d_z) if cfg.item_id_embeddings else None
        if self.id_embedding is not None:
            nn.init.normal_(self.id_embedding.weight, std=0.02)

    def per_layer_vectors(self, features: ItemFeatures) -> torch.Tensor:
        """ẽ: [B, T, d_c] after compression and prompt mixing."""
        assert self.content is not None
        per_tap: nn.ModuleList = self.content["per_tap"]  # type: ignore[assignment]
        cfg = self.cfg
        outs = []
        for l, module in enumerate(per_tap):
            if cfg.pooling == "compressor":
                assert features.old_merged is not None and features.old_size is not None
                assert features.new is not None and features.new_valid is not None
                b, p = features.old_merged.shape[:2]
                e = module(features.old_merged[:, :, l].flatten(0, 1), features.old_size[:, :, l].flatten(0, 1),
                           features.new[:, :, l].flatten(0, 1), features.new_valid[:, :, l].flatten(0, 1))  # [B*P, d_c]
            else:
                reduction = self._reduction(features, l)  # [B, P, d_in]
                b, p = reduction.shape[:2]
                e = module(reduction.flatten(0, 1))
            outs.append(e.reshape(b, p, -1))
        per_prompt = torch.stack(outs, dim=2)  # [B, P, T, d_c]
        return self.content["prompt_mixer"](per_prompt)  # [B, T, d_c]

    def _reduction(self, features: ItemFeatures, tap: int) -> torch.Tensor:
        cfg = self.cfg
        if cfg.pooling == "mean":
            assert features.old_mean is not None
            return features.old_mean[:, :, tap]
        if cfg.last_token_source == "old":
            assert features.old_last is not None
            return features.old_last[:, :, tap]
        if cfg.last_token_source == "new":
            assert features.new_last is not None
            return features.new_last[:, :, tap]
        assert features.old_last is not None and features.new_last is not None
        return torch.cat([features.old_last[:, :, tap].float(), features.new_last[:, :, tap].float()], dim=-1)

    def forward(self, item_index: torch.Tensor, features: ItemFeatures | None) -> ItemEncoding:
        # item_index [B] catalogue indices; features: that batch's TokenStore rows (None in ID-only mode)
        batch = item_index.shape[0]
        device = item_index.device
        if self.content is None:
            assert self.id_embedding is not None
            empty = torch.zeros(batch, 0, device=device)
            return ItemEncoding(z=self.id_embedding(item_index), gates=empty, gate_probs=empty, routed=empty)
        assert features is not None, "item_content=true needs ItemFeatures"
        fused = self.content["fuser"](self.per_layer_vectors(features))
        present = features.present[:, None]
        z = torch.where(present, fused.z, self.no_content.to(fused.z.dtype))  # [B, d_z]
        uniform = torch.full_like(fused.gates, 1.0 / self.n_taps)
        gates = torch.where(present, fused.gates, uniform)
        if self.id_embedding is not None:
            z = z + self.id_embedding(item_index)
        return ItemEncoding(z=z, gates=gates, gate_probs=fused.gate_probs, routed=fused.routed)

    def prompt_weights(self) -> torch.Tensor | None:
        """[T, P] prompt-mixing weights (None in ID-only mode)."""
        if self.content is None:
            return None
        return self.content["prompt_mixer"].weights().detach()
