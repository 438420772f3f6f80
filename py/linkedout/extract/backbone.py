"""Loading the frozen video LLM backbone (paper §3.2, §4.3: LLaVA-OneVision, frozen, hooks only).

``load_backbone(path, dtype, device)`` is the one path for every model: a local directory (the tiny
model of ``tiny_model.py`` or a downloaded 7B) or a hub id such as
``llava-hf/llava-onevision-qwen2-7b-ov-hf``. Parameters are frozen and the model is in eval mode;
callers run it under ``torch.inference_mode()``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}

LLAVA_ONEVISION_ARCHITECTURE = "LlavaOnevisionForConditionalGeneration"
"""The ``architectures`` entry of a LLaVA-OneVision config.json (ts/schedule/preflight.ts checks the same)."""

WEIGHT_FILES = ("model.safetensors.index.json", "model.safetensors", "pytorch_model.bin.index.json", "pytorch_model.bin")


class ModelFolderError(ValueError):
    """A local model folder that is not a loadable LLaVA-OneVision checkpoint; the message names the file."""


def check_model_dir(path: str | Path) -> None:
    """Fail fast on a folder ``from_pretrained`` would mis-load.

    Without this, a folder lacking config.json (or naming another architecture) makes transformers build
    the *default* LlavaOnevisionConfig -- a 7B Qwen2 + SigLIP -- and randomly initialise all of it on
    CPU: minutes of work and tens of GB, during which the worker misses its heartbeats and looks hung.
    """
    d = Path(path)
    config_file = d / "config.json"
    if not config_file.is_file():
        raise ModelFolderError(f"{config_file}: missing (a LLaVA-OneVision checkpoint folder has config.json, "
                               "tokenizer files and *.safetensors weights)")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelFolderError(f"{config_file}: not readable JSON ({e})") from e
    archs = config.get("architectures") if isinstance(config, dict) else None
    archs = [str(a) for a in archs] if isinstance(archs, list) else []
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if (LLAVA_ONEVISION_ARCHITECTURE not in archs) if archs else (model_type != "llava_onevision"):
        found = f"architectures {archs}" if archs else f"model_type {model_type!r} and no architectures"
        raise ModelFolderError(f"{config_file}: {found} is not a LLaVA-OneVision video model "
                               f"(expected {LLAVA_ONEVISION_ARCHITECTURE!r})")
    if not any((d / f).is_file() for f in WEIGHT_FILES):
        raise ModelFolderError(f"{d}: no weight files (expected one of {', '.join(WEIGHT_FILES)})")
    if not any((d / f).is_file() for f in ("tokenizer.json", "tokenizer.model", "vocab.json")):
        raise ModelFolderError(f"{d}: no tokenizer files (expected tokenizer.json, tokenizer.model or vocab.json)")
    # Every JSON file of the folder (tokenizer, processor configs, weight index, ...) is an object the
    # loader reads; a damaged one would surface as the tokenizers/transformers library's own error.
    for f in sorted(d.glob("*.json")):
        _check_json_object(f)


def _check_json_object(f: Path) -> None:
    """As ts/schedule/preflight.ts ``jsonFileProblem``: a readable, non-empty, UTF-8 JSON object."""
    if not f.is_file():
        raise ModelFolderError(f"{f}: a directory, not a file")
    raw = f.read_bytes()
    if not raw:
        raise ModelFolderError(f"{f}: empty (0 bytes)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ModelFolderError(f"{f}: not UTF-8: byte 0x{raw[e.start]:02x} at byte offset {e.start}") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        where = "it ends early (truncated?)" if e.pos >= len(text.rstrip()) else f"at line {e.lineno}, column {e.colno}"
        raise ModelFolderError(f"{f}: not valid JSON: {where}") from None
    if not isinstance(obj, dict):
        raise ModelFolderError(f"{f}: expected a JSON object, got {type(obj).__name__}")


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
    """Load model + processor with ``from_pretrained``; frozen, eval mode, loaded directly onto ``device``."""
    dev = torch.device(device)
    if Path(path).is_dir():
        check_model_dir(path)
        os.environ["HF_HUB_OFFLINE"] = "1"
    elif not Path(path).exists() and ("/" not in path or path.startswith((".", "/"))):
        raise FileNotFoundError(f"model.path: {path!r} is neither a directory nor a hub id")
    from transformers import AutoProcessor, LlavaOnevisionForConditionalGeneration
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    td = resolve_dtype(dtype, dev)
    # device_map: the weights are read straight onto the device (accelerate), so a 16 GB backbone never
    # sits in host memory first and is never copied twice
    model = LlavaOnevisionForConditionalGeneration.from_pretrained(path, dtype=td, device_map={"": dev})
    model.eval()
    model.requires_grad_(False)
    processor = AutoProcessor.from_pretrained(path)
    processor.tokenizer.padding_side = "left"
    if processor.tokenizer.pad_token_id is None:
        processor.tokenizer.pad_token = processor.tokenizer.eos_token
    return Backbone(model=model, processor=processor, path=path, dtype=td, device=dev)
