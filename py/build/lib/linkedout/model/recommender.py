"""LinkedOutRecommender: item tower (§3.3) + sequential user tower, scored by dot product.

    z_all  = ItemEncoder(candidate items)                 [C, d_z]   (ẽ(l) -> experts -> gate -> z_v)
    seq    = z_all[history_rows]                          [B, L, d_z] the user's history, oldest first
    user   = UserEncoder(seq)                             [B, L, d_z] one vector per position (causal)
    score(u, v) = <user_u, z_v>

History items are looked up in the candidate matrix, so each distinct item is encoded once per step
and the same z_v feeds both the history and the scoring side (as MicroLens's SASRec-V baselines).

Parameter groups (config `train.lr.<group>`; paper §4.3): `item_encoder` = the extractor-side modules
(compressors, prompt mixer, experts, gate, no-content vector), `id_embeddings` = learnable item-ID
embeddings, `ranker` = the recommendation head (user encoder).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .config import RecommenderConfig
from .features import ItemFeatures
from .item_encoder import ItemEncoder, ItemEncoding
from .rankers import build_user_encoder

PARAM_GROUPS = ("item_encoder", "id_embeddings", "ranker")


def _identity(t: torch.Tensor) -> torch.Tensor:
    return t


@dataclass
class TowerOutputs:
    items: ItemEncoding  # this process's candidate chunk
    z_all: torch.Tensor  # [C, d_z] every candidate (gathered across DDP ranks; = items.z on one process)
    per_position: torch.Tensor  # [B, L, d_z] user vector after each history position


class LinkedOutRecommender(nn.Module):
    def __init__(self, cfg: RecommenderConfig, n_items: int, d_model: int, n_taps: int, n_prompts: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.n_items = n_items
        self.item_encoder = ItemEncoder(cfg, n_items, d_model, n_taps, n_prompts)
        self.user_encoder = build_user_encoder(cfg.d_z, cfg.ranker, cfg.dropout)

    def forward(self, item_index: torch.Tensor, features: ItemFeatures | None, history_rows: torch.Tensor,
                gather: Callable[[torch.Tensor], torch.Tensor] = _identity) -> TowerOutputs:
        # item_index [C_local]; history_rows [B, L] rows of the (gathered) candidate matrix, right-padded
        items = self.item_encoder(item_index, features)
        z_all = gather(items.z)
        per_position = self.user_encoder(z_all[history_rows])
        return TowerOutputs(items=items, z_all=z_all, per_position=per_position)

    def encode_items(self, item_index: torch.Tensor, features: ItemFeatures | None) -> ItemEncoding:
        return self.item_encoder(item_index, features)

    def encode_users(self, history_z: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """User tower: history item vectors [B, L, d_z] (right-padded) + lengths [B] -> user vectors [B, d_z].

        The one path for evaluation, the offline `rank` op and serving; it equals the training forward's
        per_position[b, lengths_b - 1] but computes only what that position needs (rankers.py)."""
        return self.user_encoder(history_z, lengths)

    def param_groups(self) -> dict[str, list[tuple[str, nn.Parameter]]]:
        groups: dict[str, list[tuple[str, nn.Parameter]]] = {g: [] for g in PARAM_GROUPS}
        for name, param in self.named_parameters():
            if name.startswith("item_encoder.id_embedding."):
                groups["id_embeddings"].append((name, param))
            elif name.startswith("item_encoder."):
                groups["item_encoder"].append((name, param))
            else:
                groups["ranker"].append((name, param))
        return {g: ps for g, ps in groups.items() if ps}
