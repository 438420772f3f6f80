"""prompts: side channels present for an item go before the prompt, in config order."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from linkedout.extract.backbone import Backbone
from linkedout.extract.extractor import ExtractSettings, Extractor, extract_shard
from linkedout.extract.prompts import chat_prompt, side_channel_lines, user_text


def test_side_channels_in_order_missing_skipped_and_cut() -> None:
    item = {"item": "7", "title": "Cat  plays\nwith ball", "transcript": "x" * 40, "tags": ""}
    assert side_channel_lines(item, ["transcript", "title", "tags", "absent"], max_chars=30) == [
        "Transcript: " + "x" * 29 + "…",
        "Title: Cat plays with ball",
    ]
    assert user_text(item, "Describe.", ["title"]) == "Title: Cat plays with ball\nDescribe."
    assert user_text({"item": "8"}, "Describe.", ["title"]) == "Describe."
    assert side_channel_lines({"item": "9", "extra": {"asr": "hi"}}, ["asr"]) == ["Asr: hi"]


def test_chat_template_puts_video_before_text(tiny_backbone: Backbone) -> None:
    text = chat_prompt(tiny_backbone.processor, "Title: t\nDescribe.")
    assert text == "<|im_start|>user <video>\nTitle: t\nDescribe.<|im_end|>\n<|im_start|>assistant\n"


class _Recording:
    """The real processor, recording every text it is called with: what the backbone is given."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.texts: list[str] = []

    def __call__(self, *args: Any, text: list[str], **kwargs: Any) -> Any:
        self.texts.extend(text)
        return self.inner(*args, text=text, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_side_channel_reaches_the_backbone_cut_and_absent_when_missing(tiny_backbone: Backbone, video_dir: Path, tmp_path: Path) -> None:
    recording = _Recording(tiny_backbone.processor)
    backbone = dataclasses.replace(tiny_backbone, processor=recording)
    settings = ExtractSettings(frames=2, taps=(0,), merged_tokens=2, max_new_tokens=2, batch_size=4, prompts=("Describe.",),
                               side_channels=("title", "transcript"), side_channel_max_chars=30)
    items = [  # as ts/schedule/side-channels.ts extractItems sends them: side-file columns beside title
        {"item": "v0", "video": str(video_dir / "v0.mp4"), "title": "a cat", "transcript": "the cat jumps over the garden fence twice"},
        {"item": "v1", "video": str(video_dir / "v1.mp4"), "title": "a dog"},  # no transcript for this item
    ]
    extract_shard(Extractor(backbone, settings), str(tmp_path / "st"), key="k", dataset="d", items=items, shard=0, num_shards=1)
    assert len(recording.texts) == 2
    with_transcript, without = sorted(recording.texts, key=lambda t: "a cat" not in t)
    assert "Title: a cat\nTranscript: the cat jumps over the garden…\nDescribe." in with_transcript
    assert "Title: a dog\nDescribe." in without and "Transcript" not in without
