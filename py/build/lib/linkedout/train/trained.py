"""Stable entry points to a finished run, for serving, embedding and the `rank` op (documented in docs/model.md).

    trained = load_trained(run_dir)                    # best.pt weights, eval mode, CPU by default
    z, gates = item_embeddings(trained, store)         # [n_items, d_z], [n_items, taps], catalogue order
    users = user_tower(trained, history_z, lengths)    # [B, L, d_z] right-padded, [B] -> [B, d_z]
    scores = users @ z.T                               # dot product, as in training

`store` is the TokenStore directory (or an open `TokenStore`); None for ID-only models. The catalogue
(row order of z) is the run's `items.arrow`, read from the split directory recorded in run_dir/spec.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from linkedout.model.config import RecommenderConfig, from_dict
from linkedout.model.recommender import LinkedOutRecommender
from linkedout.store.token_store import TokenStore

from .checkpoint import load_checkpoint, load_model_state
from .data import Catalogue, ContentSource
from .evaluate import catalogue_embeddings
from .loop import build_model
from .spec import TrainSpec


@dataclass
class Trained:
    model: LinkedOutRecommender  # eval mode
    cfg: RecommenderConfig
    spec: TrainSpec  # the spec the run was trained with (run_dir/spec.json)
    shapes: dict[str, Any]  # n_items, d_model, n_taps, n_prompts, taps (VLLM layer of each gate weight)
    catalogue: Catalogue  # row order of item_embeddings
    checkpoint: Path


def load_trained(run_dir: str | Path, device: torch.device | str = "cpu") -> Trained:
    """Load run_dir/best.pt (weights_only) and the run's spec and catalogue. CheckpointError names the file."""
    run_dir = Path(run_dir)
    spec = TrainSpec.read(run_dir / "spec.json")
    path = run_dir / "best.pt"
    payload = load_checkpoint(path)
    cfg = from_dict(RecommenderConfig, payload["recommender"], "recommender")
    model = build_model(cfg, payload["shapes"], seed=0)
    load_model_state(path, model, payload["model"])
    model.to(device).eval()
    catalogue = Catalogue.read(Path(spec.split_dir) / "items.arrow")
    return Trained(model=model, cfg=cfg, spec=spec, shapes=dict(payload["shapes"]), catalogue=catalogue, checkpoint=path)


def content_source(trained: Trained, store: str | Path | TokenStore | None) -> ContentSource | None:
    if not trained.cfg.item_content:
        return None
    opened = store if isinstance(store, TokenStore) else TokenStore.open(store or trained.spec.store or "")
    return ContentSource(opened, trained.catalogue, trained.cfg)


@torch.no_grad()
def item_embeddings(trained: Trained, store: str | Path | TokenStore | None = None, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """z [n_items, d_z] and gates π [n_items, taps] (float32) for the catalogue, in items.arrow order."""
    device = next(trained.model.parameters()).device
    return catalogue_embeddings(trained.model, content_source(trained, store), len(trained.catalogue), batch_size, device)


@torch.no_grad()
def user_tower(trained: Trained, history_z: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """User vectors [B, d_z] from right-padded history item vectors [B, L, d_z] and lengths [B] (>= 1)."""
    return trained.model.encode_users(history_z, lengths).float()
