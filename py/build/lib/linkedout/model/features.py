"""`ItemFeatures`: the model's content input, one batch of items as read from the TokenStore.

Shapes (B items, P prompts, T taps, M merged old tokens, N new tokens, d VLLM width):

    present     [B]              bool     the item has content (False: extraction failed / not in the store)
    old_merged  [B, P, T, M, d]  fp16/bf16/fp32   ToMe-merged old tokens (paper §3.3.1 Merge_old)
    old_size    [B, P, T, M]     float32  ToMe token count of each merged token; 0 marks an empty slot
    new         [B, P, T, N, d]  fp16/bf16/fp32   new (generated) tokens
    new_valid   [B, P, T, N]     bool     new-token slot holds a real token (the store pads short generations with zeros)
    old_mean    [B, P, T, d]              mean of all old tokens (parameter-free, `pooling: mean`)
    old_last    [B, P, T, d]              last old token (`pooling: last_token`)
    new_last    [B, P, T, d]              last new token

Only the fields the configured pooling needs are filled; the others are None.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch


@dataclass
class ItemFeatures:
    present: torch.Tensor
    old_merged: torch.Tensor | None = None
    old_size: torch.Tensor | None = None
    new: torch.Tensor | None = None
    new_valid: torch.Tensor | None = None
    old_mean: torch.Tensor | None = None
    old_last: torch.Tensor | None = None
    new_last: torch.Tensor | None = None

    def to(self, device: torch.device) -> "ItemFeatures":
        moved = {f.name: (None if getattr(self, f.name) is None else getattr(self, f.name).to(device, non_blocking=True)) for f in fields(self)}
        return ItemFeatures(**moved)

    def select(self, index: torch.Tensor) -> "ItemFeatures":
        """Rows `index` of every field (used to split a batch across DDP ranks)."""
        picked = {f.name: (None if getattr(self, f.name) is None else getattr(self, f.name)[index]) for f in fields(self)}
        return ItemFeatures(**picked)

    @property
    def batch_size(self) -> int:
        return int(self.present.shape[0])
