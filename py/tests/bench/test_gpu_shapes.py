"""The 7B path of ``lo-exp bench gpu`` checked without a GPU: the model built on the meta device (no
memory), its taps and widths against the 7B TokenStore preset, the processor's video token count."""

from __future__ import annotations

import numpy as np
import torch

from linkedout.bench.gpu import SIZES
from linkedout.bench.train import PRESETS
from linkedout.extract.extractor import ExtractSettings, Extractor
from linkedout.extract.prompts import chat_prompt
from linkedout.extract.tiny_model import build_random_backbone


def test_the_7b_backbone_builds_on_the_meta_device_with_the_7b_store_shapes() -> None:
    b = build_random_backbone("7b", torch.device("meta"))
    assert all(p.device.type == "meta" for p in b.model.parameters())  # nothing was allocated on the CPU
    assert 8.0e9 < sum(p.numel() for p in b.model.parameters()) < 8.1e9
    assert b.model.config.text_config._attn_implementation == "sdpa"
    taps = Extractor(b, ExtractSettings(taps=(0, 4, 8, 12, 16, 20))).taps  # the paper's L0..L20, + the last layer stored
    preset = PRESETS[SIZES["gpu"].train_preset]
    assert (len(taps), b.d_model) == (preset.taps, preset.d_model) == (7, 3584)
    # 8 frames at 384 px -> 196 video tokens per frame (+1 newline token), as the real 7B processor
    frames = np.zeros((8, 384, 384, 3), dtype=np.uint8)
    inputs = b.processor(text=[chat_prompt(b.processor, "Describe.")], videos=[frames], return_tensors="pt")
    video_tokens = int((inputs["input_ids"] == b.model.config.video_token_index).sum())
    assert video_tokens == 8 * 196 + 1
    assert tuple(inputs["pixel_values_videos"].shape) == (1, 8, 3, 384, 384)


def test_the_lm_dominant_shapes_of_prompts_2_vs_1() -> None:
    """``0.5b-lm``: Qwen2-0.5B's language model (24 layers, d 896: 358 M parameters less the 151,936-token
    embedding and head) behind a toy vision tower; ``lm-small``: its proportions at 4 layers of d 512."""
    half = build_random_backbone("0.5b-lm", torch.device("meta"))
    t = half.model.config.text_config
    assert (t.num_hidden_layers, t.hidden_size, t.num_attention_heads, t.num_key_value_heads, t.intermediate_size) == (24, 896, 14, 2, 4864)
    layers = sum(p.numel() for p in half.model.model.language_model.layers.parameters())
    assert 3.55e8 < layers < 3.6e8
    vision = sum(p.numel() for p in half.model.model.vision_tower.parameters())
    assert vision < layers / 1000  # the language model dominates
    small = build_random_backbone("lm-small", torch.device("meta"))
    assert (small.num_layers, small.d_model) == (4, 512)
    # the same 196 video tokens per frame as the 7B
    frames = np.zeros((8, 384, 384, 3), dtype=np.uint8)
    inputs = small.processor(text=[chat_prompt(small.processor, "Describe.")], videos=[frames], return_tensors="pt")
    assert int((inputs["input_ids"] == small.model.config.video_token_index).sum()) == 8 * 196 + 1
