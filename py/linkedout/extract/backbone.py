"""Loading the frozen video LLM backbone (paper §3.2, §4.3: LLaVA-OneVision, frozen, hooks only).

``load_backbone(path, dtype, device)`` is the one path for every model: a local directory (the tiny
model of ``tiny_model.py`` or a downloaded 7B) or a hub id such as
``llava-hf/llava-onevision-qwen2-7b-ov-hf``. Parameters are frozen and the model is in eval mode;
callers run it under ``torch.inference_mode()``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass
class Backbone:
    model: Any  # LlavaOnevisionForConditionalGeneration
    processor: Any  # LlavaOnevisionProcessor
    path: str
    dtype: torch.dtype
    device: torch.device

    @property
    def decoder_layers(self) -> torch.nn.ModuleList:
        """The language model's decoder layers (transformers 5: ``model.model.language_model.layers``)."""
        return self.model.model.language_model.layers

    @property
    def num_layers(self) -> int:
        return len(self.decoder_layers)

    @property
    def d_model(self) -> int:
        return int(self.model.config.text_config.hidden_size)


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """``auto`` = bf16 on GPU, fp32 on CPU (CPU bf16 matmuls are slow and less exact)."""
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if name not in DTYPES:
        raise ValueError(f"model.dtype: {name!r} is not one of auto, {', '.join(DTYPES)}")
    return DTYPES[name]


def load_backbone(path: str, dtype: str = "auto", device: str | torch.device = "cpu") -> Backbone:
    """Load model + processor with ``from_pretrained``; frozen, eval mode, on ``device``."""
    dev = torch.device(device)
    if Path(path).is_dir():
        os.environ["HF_HUB_OFFLINE"] = "1"
    elif not Path(path).exists() and ("/" not in path or path.startswith((".", "/"))):
        raise FileNotFoundError(f"model.path: {path!r} is neither a directory nor a hub id")
    from transformers import AutoProcessor, LlavaOnevisionForConditionalGeneration
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    td = resolve_dtype(dtype, dev)
    model = LlavaOnevisionForConditionalGeneration.from_pretrained(path, dtype=td)
    model.to(dev).eval()
    model.requires_grad_(False)
    processor = AutoProcessor.from_pretrained(path)
    processor.tokenizer.padding_side = "left"
    if processor.tokenizer.pad_token_id is None:
        processor.tokenizer.pad_token = processor.tokenizer.eos_token
    return Backbone(model=model, processor=processor, path=path, dtype=td, device=dev)
