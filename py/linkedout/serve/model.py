"""The trained model as the serving side needs it: item tower offline (embed, add-items), user tower online.

Reads what training leaves in the run directory (docs/model.md): ``best.pt`` (weights + the shapes and
``recommender`` config they were built for). The model version that keys an EmbeddingStore is the
first 16 hex digits of the SHA-256 of ``best.pt``: any retraining changes it, so vectors from two
different models are never mixed in one store (``EmbeddingStore.add`` refuses).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from linkedout.model.config import RecommenderConfig, from_dict
from linkedout.model.recommender import LinkedOutRecommender
from linkedout.serve.tower import ServingTower, TowerMode, serving_tower
from linkedout.train.checkpoint import load_checkpoint, load_model_state
from linkedout.train.data import Catalogue, ContentSource
from linkedout.train.evaluate import catalogue_embeddings
from linkedout.train.loop import build_model

CHECKPOINT = "best.pt"


@dataclass
class TrainedModel:
    model: LinkedOutRecommender  # eval mode, on CPU
    cfg: RecommenderConfig
    shapes: dict[str, Any]  # n_items, d_model, n_taps, n_prompts, taps (VLLM layer index per tap)
    version: str
    checkpoint: Path

    @property
    def layers(self) -> list[int]:
        """0-based VLLM decoder layer of each gate weight."""
        return [int(t) for t in self.shapes.get("taps", [])]

    def serving_tower(self, mode: TowerMode = "frozen") -> ServingTower:
        """The user tower the serving worker runs (``serve.tower``; linkedout.serve.tower)."""
        return serving_tower(self.model.user_encoder, d_z=self.cfg.d_z, max_history=self.cfg.ranker.max_history, mode=mode)


def model_version(checkpoint: Path) -> str:
    digest = hashlib.sha256()
    with checkpoint.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def load_trained_model(run_dir: str | Path) -> TrainedModel:
    """The best weights of a finished training run (CheckpointError naming the file if unusable)."""
    path = Path(run_dir) / CHECKPOINT
    payload = load_checkpoint(path)
    cfg = from_dict(RecommenderConfig, payload["recommender"], "recommender")
    model = build_model(cfg, payload["shapes"], seed=0)
    load_model_state(path, model, payload["model"])
    model.eval()
    return TrainedModel(model=model, cfg=cfg, shapes=dict(payload["shapes"]), version=model_version(path), checkpoint=path)


@torch.inference_mode()
def embed_catalogue(trained: TrainedModel, content: ContentSource | None, n_items: int, batch_size: int,
                    progress: Callable[[int, int], None] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """z [n_items, d_z], π [n_items, taps] for catalogue rows 0..n_items-1 (the training code's own path)."""
    return catalogue_embeddings(trained.model, content, n_items, batch_size, torch.device("cpu"), progress)


@torch.inference_mode()
def embed_new_items(trained: TrainedModel, content: ContentSource, n_items: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cold start: z, π of items the model never saw, from their TokenStore features alone.

    With learnable item-ID embeddings ("+V" models) a new item has no trained ID vector; it gets the
    content vector only (as if its ID embedding were zero).
    """
    if not trained.cfg.item_content:
        raise ValueError("this run's model is ID-only (recommender.item_content=false): it cannot embed new videos")
    zs, gates = [], []
    id_embedding = trained.model.item_encoder.id_embedding
    for start in range(0, n_items, batch_size):
        idx = torch.arange(start, min(start + batch_size, n_items))
        placeholder = torch.zeros_like(idx)  # a valid ID row; its embedding is taken out again below
        enc = trained.model.encode_items(placeholder, content.gather(idx))
        z = enc.z.float()
        if id_embedding is not None:
            z = z - id_embedding(placeholder).float()
        zs.append(z)
        gates.append(enc.gates.float())
    return torch.cat(zs), torch.cat(gates)


def catalogue_of(items: list[str]) -> Catalogue:
    """A Catalogue over given item ids (no training counts), for ContentSource lookups of new items."""
    return Catalogue(items=items, train_count=np.zeros(len(items), dtype=np.int64),
                     index={item: i for i, item in enumerate(items)})
