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
