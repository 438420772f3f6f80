"""A tiny, random-initialised LLaVA-OneVision that loads exactly like the 7B (paper §4.3 backbone).

``build_tiny_model(out_dir, ...)`` writes a directory that ``from_pretrained`` reads the same way it
reads ``llava-hf/llava-onevision-qwen2-7b-ov-hf``: the model (SigLIP vision tower -> projector ->
Qwen2 decoder), a byte-level BPE tokenizer trained offline on a small built-in corpus with the
special tokens LLaVA-OV uses (``<|im_start|>``, ``<|im_end|>``, ``<|endoftext|>``, ``<image>``,
``<video>``), the LLaVA-OV chat template, and a processor whose video path matches the model
(``num_image_tokens`` = patches per frame, ``vision_feature_select_strategy="full"`` in both).

Departure from the 7B: sizes only (hidden 64, 8 layers, 32x32 frames with 8x8 patches -> 16 patches,
pooled to 2x2 = 4 tokens per frame). Weights are random, so generated text is noise; the tests and the
quick start need the *plumbing* to be identical, not the knowledge.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..config import section_defaults
from ..config.generated import ModelTiny

_TINY = section_defaults("model")["tiny"]  # `model.tiny` defaults, from schemas/config/model.schema.json

# The chat template of llava-hf/llava-onevision-qwen2-*-ov-hf: images, then videos, then text per turn.
LLAVA_OV_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + ' ' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'video') %}{{ '<video>\n' }}{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] }}{% endfor %}"
    "{% endif %}"
    "{{ '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"]

# A small built-in corpus so the BPE merges cover the words prompts and titles use. It is the tokenizer's
# training text, not a prompt (the default prompt bank is `extract.prompts` in schemas/config/extract.schema.json):
# it stays fixed so that the tiny model, and every store and ranking built with it, keeps its bytes.
_CORPUS = [
    "Describe this video in detail.",
    "What is the main topic of this video? Answer in a few words.",
    "Who would enjoy watching this video and why?",
    "Title: a cat plays with a red ball in the kitchen.",
    "Title: street food tour, cooking noodles and dumplings at night.",
    "Title: football highlights, the best goals of the season.",
    "Title: travel vlog, mountains, lakes and a sunset over the sea.",
    "Title: makeup tutorial, dance challenge, funny pets, music cover, gaming.",
    "Transcript: hello everyone, welcome back to my channel, today we are going to",
    "The video shows a person, an animal, a car, a house, food, sports, nature, a city and people talking.",
    "user assistant system video image frame scene color red green blue yellow black white moving static",
    "0 1 2 3 4 5 6 7 8 9 10 100 1000, . ? ! : ; ' \" ( ) - _ / #",
]


@dataclass(frozen=True, kw_only=True)
class TinyModelSpec(ModelTiny):
    """`model.tiny` (hidden, layers, image_size, seed: generated from the schema) and the shape the config leaves fixed."""

    patch_size: int = 8
    vision_hidden: int = 32
    vision_layers: int = 2
    heads: int = 4
    kv_heads: int = 2
    vocab_size: int = 512


def _train_tokenizer(vocab_size: int):
    """Byte-level BPE with Qwen2's pre-tokenizer, trained on the built-in corpus (deterministic)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 4, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        extra_special_tokens={"image_token": "<image>", "video_token": "<video>"},
        padding_side="left",
    )


def build_tiny_model(
    out_dir: str | os.PathLike[str],
    hidden: int = _TINY["hidden"],
    layers: int = _TINY["layers"],
    image_size: int = _TINY["image_size"],
    seed: int = _TINY["seed"],
) -> dict[str, object]:
    """Build, save (``save_pretrained``) and describe a tiny random LLaVA-OneVision in ``out_dir``.

    Deterministic from ``seed``: the same arguments give byte-identical weight files.
    Returns a JSON-able summary (path, parameter count, layers, hidden size, tokens per frame).
    """
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        LlavaOnevisionImageProcessor,
        LlavaOnevisionProcessor,
        LlavaOnevisionVideoProcessor,
        Qwen2Config,
        SiglipVisionConfig,
    )

    os.environ["HF_HUB_OFFLINE"] = "1"  # building from scratch never needs the hub
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    spec = TinyModelSpec(hidden=hidden, layers=layers, image_size=image_size, seed=seed)
    if hidden % spec.heads:
        raise ValueError(f"hidden={hidden}: must be a multiple of {spec.heads} attention heads")
    if image_size % spec.patch_size or image_size < spec.patch_size:
        raise ValueError(f"image_size={image_size}: must be a positive multiple of the patch size {spec.patch_size}")
    if layers < 1:
        raise ValueError(f"layers={layers}: must be >= 1")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    tokenizer = _train_tokenizer(spec.vocab_size)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}

    vision = SiglipVisionConfig(
        hidden_size=spec.vision_hidden,
        intermediate_size=2 * spec.vision_hidden,
        num_hidden_layers=spec.vision_layers,
        num_attention_heads=2,
        image_size=image_size,
        patch_size=spec.patch_size,
        vision_use_head=False,
    )
    text = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=spec.heads,
        num_key_value_heads=spec.kv_heads,
        max_position_embeddings=4096,
        tie_word_embeddings=False,
        bos_token_id=None,
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
    )
    grid = [[image_size * a, image_size * b] for a in (1, 2) for b in (1, 2)]
    config = LlavaOnevisionConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=ids["<image>"],
        video_token_index=ids["<video>"],
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
        image_grid_pinpoints=grid,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlavaOnevisionForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.generation_config.do_sample = False

    patches_per_frame = (image_size // spec.patch_size) ** 2
    size = {"height": image_size, "width": image_size}
    processor = LlavaOnevisionProcessor(
        image_processor=LlavaOnevisionImageProcessor(size=size, image_grid_pinpoints=grid),
        tokenizer=tokenizer,
        video_processor=LlavaOnevisionVideoProcessor(size=size),
        num_image_tokens=patches_per_frame,
        vision_feature_select_strategy="full",
        chat_template=LLAVA_OV_CHAT_TEMPLATE,
    )
    model.save_pretrained(out)
    processor.save_pretrained(out)
    summary: dict[str, object] = {
        "path": str(out),
        "parameters": sum(p.numel() for p in model.parameters()),
        "layers": layers,
        "hidden": hidden,
        "image_size": image_size,
        "patches_per_frame": patches_per_frame,
        "tokens_per_frame": math.ceil(math.isqrt(patches_per_frame) / 2) ** 2,
        "vocab": len(tokenizer),
        "seed": seed,
    }
    (out / "linkedout_tiny.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def seven_b_config(image_token_id: int = 151646, video_token_id: int = 151647) -> Any:
    """The configuration of llava-hf/llava-onevision-qwen2-7b-ov-hf (SigLIP-so400m at 384 px, patch 14,
    + Qwen2-7B: 28 layers, d = 3584), written out so it builds without the hub (8.03 B parameters)."""
    from transformers import LlavaOnevisionConfig, Qwen2Config, SiglipVisionConfig

    vision = SiglipVisionConfig(
        hidden_size=1152, intermediate_size=4304, num_hidden_layers=26, num_attention_heads=16,
        image_size=384, patch_size=14, vision_use_head=False,
    )
    text = Qwen2Config(
        vocab_size=152128, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
        num_key_value_heads=4, max_position_embeddings=32768, rope_theta=1000000.0, tie_word_embeddings=False,
        eos_token_id=151645, pad_token_id=151643,
    )
    return LlavaOnevisionConfig(
        vision_config=vision, text_config=text, image_token_index=image_token_id, video_token_index=video_token_id,
        vision_feature_select_strategy="full", vision_feature_layer=-1,
    )


def tiny_shaped_config(image_token_id: int, video_token_id: int) -> Any:
    """The 7B's architecture at toy sizes (same model classes, SDPA, 4 taps at tap_every 4): what
    ``lo-exp bench gpu --tiny`` runs on the CPU so the 7B code path is exercised in the tests."""
    from transformers import LlavaOnevisionConfig, Qwen2Config, SiglipVisionConfig

    vision = SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                image_size=28, patch_size=14, vision_use_head=False)
    text = Qwen2Config(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=16, num_attention_heads=4,
                       num_key_value_heads=2, max_position_embeddings=4096, tie_word_embeddings=False)
    return LlavaOnevisionConfig(vision_config=vision, text_config=text, image_token_index=image_token_id, video_token_index=video_token_id,
                                vision_feature_select_strategy="full", vision_feature_layer=-1)


def build_random_backbone(shape: str, device: torch.device, dtype: torch.dtype = torch.bfloat16, seed: int = 0) -> Any:
    """A random-initialised LLaVA-OneVision built directly on ``device`` (never on the CPU first; on
    ``meta`` it allocates nothing: a shape check), with SDPA attention, the tiny model's tokenizer and
    a processor at the config's frame size. ``shape``: ``7b`` (llava-onevision-qwen2-7b-ov's
    configuration, 8.03 B parameters, ~15 GiB in bf16, 196 video tokens per frame) or ``tiny``."""
    if shape not in ("7b", "tiny"):
        raise ValueError(f"shape: {shape!r} is not 7b or tiny")
    os.environ["HF_HUB_OFFLINE"] = "1"
    from transformers import (
        LlavaOnevisionForConditionalGeneration,
        LlavaOnevisionImageProcessor,
        LlavaOnevisionProcessor,
        LlavaOnevisionVideoProcessor,
    )

    from .backbone import Backbone

    tokenizer = _train_tokenizer(512)
    ids = (tokenizer.convert_tokens_to_ids("<image>"), tokenizer.convert_tokens_to_ids("<video>"))
    config = seven_b_config(*ids) if shape == "7b" else tiny_shaped_config(*ids)
    config.text_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    config.text_config.pad_token_id = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.device(device):
        torch.manual_seed(seed)
        model = LlavaOnevisionForConditionalGeneration._from_config(config, dtype=dtype, attn_implementation="sdpa").eval()
    model.requires_grad_(False)
    model.generation_config.eos_token_id = config.text_config.eos_token_id
    model.generation_config.pad_token_id = config.text_config.pad_token_id
    side = int(config.vision_config.image_size)
    size = {"height": side, "width": side}
    processor = LlavaOnevisionProcessor(
        image_processor=LlavaOnevisionImageProcessor(size=size),
        tokenizer=tokenizer,
        video_processor=LlavaOnevisionVideoProcessor(size=size),
        num_image_tokens=(side // int(config.vision_config.patch_size)) ** 2,
        vision_feature_select_strategy="full",
        chat_template=LLAVA_OV_CHAT_TEMPLATE,
    )
    return Backbone(model=model, processor=processor, path=f"random-{shape}-config", dtype=dtype, device=device)


def build_random_7b(device: torch.device, dtype: torch.dtype = torch.bfloat16, seed: int = 0) -> Any:
    """A LLaVA-OneVision with the 7B's configuration and random weights, built directly on ``device``
    (about 15 GiB in bf16), with the tiny model's tokenizer and a 384 px processor (729 patches per
    frame -> 196 video tokens per frame, as the 7B). For the GPU benchmark; never saved."""
    return build_random_backbone("7b", device, dtype, seed)
