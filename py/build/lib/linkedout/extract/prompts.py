"""Prompts: a bank of canonical prompts plus the item's side channels, in the chat template (paper §3.1:
"optional side channels s (ASR transcripts, metadata, tags) ... a natural-language prompt p steers the
backbone"; §3.4: "a small set of canonical prompts").

One user turn per (item, prompt): the video first (LLaVA-OV's template puts media before text), then
one line per side channel present for the item (``Title: ...``), then the prompt. Side channels
missing or empty for an item are left out, so the same config works for datasets with or without
transcripts. Long side-channel text is cut to ``max_chars`` so the prompt length stays bounded.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

DEFAULT_PROMPTS: tuple[str, ...] = (
    "Describe this video in detail: the scene, the objects, the people and what happens.",
    "What is the main topic of this video, and who would enjoy watching it?",
)


def side_channel_lines(item: Mapping[str, Any], side_channels: Sequence[str], max_chars: int = 400) -> list[str]:
    """``Name: value`` lines for the side channels this item has (non-empty), in config order."""
    lines = []
    for ch in side_channels:
        value = item.get(ch)
        if value is None and isinstance(item.get("extra"), Mapping):
            value = item["extra"].get(ch)
        if value is None:
            continue
        text = " ".join(str(value).split())  # one line: newlines would look like template structure
        if not text:
            continue
        if len(text) > max_chars:
            text = text[: max_chars - 1].rstrip() + "…"
        lines.append(f"{ch.replace('_', ' ').capitalize()}: {text}")
    return lines


def user_text(item: Mapping[str, Any], prompt: str, side_channels: Sequence[str], max_chars: int = 400) -> str:
    """The text part of the user turn: side-channel lines, then the prompt."""
    return "\n".join([*side_channel_lines(item, side_channels, max_chars), prompt])


def chat_prompt(processor: Any, text: str) -> str:
    """Render one user turn with a video and ``text`` through the processor's chat template,
    ending with the assistant header so generation starts the answer."""
    conversation = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": text}]}]
    return processor.apply_chat_template(conversation, add_generation_prompt=True)
