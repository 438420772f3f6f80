"""Configured taps on the tiny backbone: the MoE gates over exactly them; the last-layer ablation reads the
backbone's last layer from the same extraction (Table 4 shares one TokenStore)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from linkedout.extract.backbone import Backbone
from linkedout.extract.extractor import ExtractSettings, Extractor, extract_shard
from linkedout.model.config import RecommenderConfig, from_dict
from linkedout.store.token_store import TokenStore
from linkedout.train.data import Catalogue, ContentSource
from linkedout.train.loop import build_model, model_shapes


def test_moe_gates_over_the_configured_taps_and_last_layer_reads_the_last_layer(tiny_backbone: Backbone, video_dir: Path,
                                                                                 tmp_path: Path) -> None:
    settings = ExtractSettings(frames=2, taps=(0, 2, 4), merged_tokens=3, max_new_tokens=2, batch_size=4, prompts=("Describe.",))
    items = [{"item": f"v{i}", "video": str(video_dir / f"v{i}.mp4"), "title": f"clip {i}"} for i in range(3)]
    extract_shard(Extractor(tiny_backbone, settings), str(tmp_path / "st"), key="k", dataset="d", items=items, shard=0, num_shards=1)
    store = TokenStore.open(tmp_path / "st")
    last = tiny_backbone.num_layers - 1
    assert store.configured_taps == [0, 2, 4] and store.taps == [0, 2, 4, last]  # one extraction for every Table 4 row
    catalogue = Catalogue(items=store.items, train_count=np.ones(3, dtype=np.int64), index={it: i for i, it in enumerate(store.items)})
    idx = torch.arange(3)

    full = from_dict(RecommenderConfig, {"d_c": 8, "d_z": 8, "compressor": {"heads": 2, "old_queries": 1, "new_queries": 1},
                                        "moe": {"expert_hidden": 8, "gate_hidden": 4}}, "recommender")
    content = ContentSource(store, catalogue, full)
    shapes = model_shapes(content, catalogue, store.taps)
    assert shapes["taps"] == [0, 2, 4]
    model = build_model(full, shapes, seed=0).eval()
    with torch.no_grad():
        enc = model.encode_items(idx, content.gather(idx))
    assert enc.gates.shape == (3, 3)  # one gate column per configured tap

    ablation = from_dict(RecommenderConfig, {"pooling": "last_token", "layers": "last", "fusion": "none"}, "recommender")
    content_last = ContentSource(store, catalogue, ablation)
    assert model_shapes(content_last, catalogue, store.taps)["taps"] == [last]
    got = content_last.gather(idx).old_last  # [B, P, 1, d]
    torch.testing.assert_close(got[:, :, 0], store.get("old_last", range(3))[:, :, store.taps.index(last)], rtol=0, atol=0)
