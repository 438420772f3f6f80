"""tiny_model: a random LLaVA-OneVision that loads through the same from_pretrained path as the 7B."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest

from linkedout.extract.backbone import Backbone, load_backbone
from linkedout.extract.tiny_model import build_tiny_model


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_saved_directory_has_everything_from_pretrained_needs(tiny_model_dir: Path) -> None:
    names = {p.name for p in tiny_model_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "processor_config.json", "chat_template.jinja"} <= names
    cfg = json.loads((tiny_model_dir / "config.json").read_text())
    assert cfg["model_type"] == "llava_onevision"
    assert cfg["vision_feature_select_strategy"] == "full"
    assert cfg["text_config"]["num_hidden_layers"] == 8 and cfg["text_config"]["hidden_size"] == 64
    proc = json.loads((tiny_model_dir / "processor_config.json").read_text())
    assert proc["num_image_tokens"] == 16 and proc["vision_feature_select_strategy"] == "full"


def test_loads_frozen_and_video_token_expansion_matches_formula(tiny_backbone: Backbone) -> None:
    m = tiny_backbone.model
    assert not m.training and not any(p.requires_grad for p in m.parameters())
    assert tiny_backbone.num_layers == 8 and tiny_backbone.d_model == 64
    proc = tiny_backbone.processor
    assert proc.tokenizer.padding_side == "left"
    text = proc.apply_chat_template(
        [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "Describe."}]}], add_generation_prompt=True
    )
    assert text.startswith("<|im_start|>user <video>\n") and text.endswith("<|im_start|>assistant\n")
    for t in (3, 8):
        video = np.zeros((t, 40, 56, 3), dtype=np.uint8)
        ids = proc(text=[text], videos=[video], return_tensors="pt")["input_ids"][0]
        n_video = int((ids == m.config.video_token_index).sum())
        # frames * ceil(sqrt(N)/2)^2 + 1 (the newline token), N = 16 patches per frame
        assert n_video == t * math.ceil(math.sqrt(16) / 2) ** 2 + 1
    # special tokens are single ids, not split into characters
    for tok in ("<|im_start|>", "<|im_end|>", "<video>"):
        assert len(proc.tokenizer(tok, add_special_tokens=False)["input_ids"]) == 1


def test_same_seed_same_bytes_other_seed_other_weights(tmp_path: Path, tiny_model_dir: Path) -> None:
    a = build_tiny_model(tmp_path / "a", seed=0)
    assert a["layers"] == 8 and a["tokens_per_frame"] == 4
    assert _sha(tmp_path / "a" / "model.safetensors") == _sha(tiny_model_dir / "model.safetensors")
    assert _sha(tmp_path / "a" / "tokenizer.json") == _sha(tiny_model_dir / "tokenizer.json")
    build_tiny_model(tmp_path / "b", seed=1)
    assert _sha(tmp_path / "b" / "model.safetensors") != _sha(tiny_model_dir / "model.safetensors")


def test_bad_sizes_and_missing_path_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="hidden=30"):
        build_tiny_model(tmp_path / "x", hidden=30)
    with pytest.raises(ValueError, match="image_size=20"):
        build_tiny_model(tmp_path / "x", image_size=20)
    with pytest.raises(FileNotFoundError, match="model.path"):
        load_backbone(str(tmp_path / "nope"))


def test_seven_b_configuration_builds_on_meta_with_the_7b_shapes() -> None:
    """The --gpu benchmark's model, without weights: 8.03 B parameters, 28 layers of d = 3584, 196 video
    tokens per 384 px frame, the paper's taps L0..L20 (plus the last layer, stored for the ablation)."""
    import torch

    from linkedout.extract.extractor import ExtractSettings, Extractor
    from linkedout.extract.tiny_model import build_random_7b

    b = build_random_7b(torch.device("meta"))
    assert b.num_layers == 28 and b.d_model == 3584
    assert 8.0e9 < sum(p.numel() for p in b.model.parameters()) < 8.1e9
    paper = Extractor(b, ExtractSettings(taps=(0, 4, 8, 12, 16, 20)))
    assert paper.configured_taps == [0, 4, 8, 12, 16, 20] and paper.taps == [0, 4, 8, 12, 16, 20, 27]
    assert Extractor(b, ExtractSettings()).configured_taps == [0, 4, 8, 12, 16, 20, 24]  # tap_every 4 from layer 0
    text = b.processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "Describe."}]}], add_generation_prompt=True
    )
    ids = b.processor(text=[text], videos=[np.zeros((8, 384, 384, 3), dtype=np.uint8)], return_tensors="pt")["input_ids"][0]
    assert int((ids == b.model.config.video_token_index).sum()) == 8 * 14 * 14 + 1
