"""Full-catalogue ranking with the MicroLens protocol (design.md): exact ranks, history masked, exact ties.

    score(u, v) = <user_u, z_v>;  masked items (the user's kept items before the target) score -inf
    rank = 1 + #{score > s_t} + #{score == s_t and catalogue index < target's}   (linkedout.model.ranking)

Everything runs in float32 without autocast so the same weights always give the same ranks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from linkedout.model.recommender import LinkedOutRecommender
from linkedout.model.ranking import batch_rows, flat_mask, rank_batch

from .data import EvalSplit, FeatureSource
from .metrics import hit_rate, ndcg


@torch.no_grad()
def catalogue_embeddings(model: LinkedOutRecommender, content: FeatureSource | None, n_items: int, batch_size: int,
                         device: torch.device, progress: Callable[[int, int], None] | None = None,
                         start: int = 0, stop: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """z [n, d_z] and gates π [n, T] (float32, on `device`) for catalogue items [start, stop) (default: all).
    `content`: a ContentSource or the training run's FeatureCache (the same features)."""
    stop = n_items if stop is None else stop
    if start >= stop:  # an empty chunk (DDP, more ranks than items)
        return torch.zeros(0, model.cfg.d_z, device=device), torch.zeros(0, 0, device=device)
    was_training = model.training
    model.eval()
    zs, gates = [], []
    for first in range(start, stop, batch_size):
        idx = torch.arange(first, min(first + batch_size, stop))
        features = content.gather(idx).to(device) if content is not None else None
        enc = model.encode_items(idx.to(device), features)
        zs.append(enc.z.float())
        gates.append(enc.gates.float())
        if progress is not None:
            progress(min(first + batch_size, stop) - start, stop - start)
    model.train(was_training)
    z = torch.cat(zs)
    if not torch.isfinite(z).all():
        raise FloatingPointError("item embeddings contain NaN/inf (training diverged?)")
    return z, torch.cat(gates)


def pad_histories(histories: list[np.ndarray], max_history: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded [U, L] catalogue indices (the newest max_history items) and lengths [U]."""
    kept = [h[-max_history:] for h in histories]
    length = max(len(h) for h in kept)
    out = np.zeros((len(kept), length), dtype=np.int64)
    for i, h in enumerate(kept):
        out[i, : len(h)] = h
    return torch.from_numpy(out), torch.tensor([len(h) for h in kept], dtype=torch.long)


@torch.no_grad()
def user_vectors(model: LinkedOutRecommender, z: torch.Tensor, histories: list[np.ndarray]) -> torch.Tensor:
    """User tower over histories looked up in the catalogue matrix z: [U, d_z]."""
    was_training = model.training
    model.eval()
    hist, lengths = pad_histories(histories, model.cfg.ranker.max_history)
    users = model.encode_users(z[hist.to(z.device)], lengths.to(z.device)).float()
    model.train(was_training)
    return users


def rank_targets(scores: torch.Tensor, targets: torch.Tensor, masked: list[np.ndarray], topk: int) -> tuple[torch.Tensor, list[np.ndarray]]:
    """Exact 1-based ranks [U] (int64) and top-K catalogue indices per user (masked items excluded).

    The caller's scores are left as they are (use `linkedout.model.ranking.rank_batch` to mask in place)."""
    rows, cols = flat_mask(masked)
    return rank_batch(scores.clone(), targets, rows, cols, topk)


@dataclass
class SplitRanks:
    split: str
    users: list[str]
    targets: np.ndarray  # [U] catalogue indices
    ranks: np.ndarray  # [U] int32
    topk: list[np.ndarray]

    def hit_rate(self, k: int) -> float:
        return hit_rate(self.ranks, k)

    def ndcg(self, k: int) -> float:
        return ndcg(self.ranks, k)


@torch.no_grad()
def rank_split(model: LinkedOutRecommender, z: torch.Tensor, split: EvalSplit, topk: int, batch_users: int,
               start: int = 0, stop: int | None = None) -> SplitRanks:
    """Rank users [start, stop) of `split` against the catalogue matrix z."""
    stop = len(split) if stop is None else stop
    ranks: list[torch.Tensor] = []
    tops: list[np.ndarray] = []
    batch_users = batch_rows(z.shape[0], batch_users)
    for s in range(start, stop, batch_users):
        e = min(s + batch_users, stop)
        users = user_vectors(model, z, split.histories[s:e])
        if not torch.isfinite(users).all():
            raise FloatingPointError(f"{split.name}: user vectors contain NaN/inf (training diverged?)")
        scores = users @ z.T  # [u, n_items]
        rows, cols = flat_mask(split.masked[s:e])
        r, t = rank_batch(scores, torch.from_numpy(split.targets[s:e]), rows, cols, topk)
        ranks.append(r)
        tops += t
    all_ranks = torch.cat(ranks).numpy().astype(np.int32) if ranks else np.zeros(0, np.int32)
    return SplitRanks(split=split.name, users=split.users[start:stop], targets=split.targets[start:stop], ranks=all_ranks, topk=tops)
