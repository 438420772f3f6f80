"""prompts: side channels present for an item go before the prompt, in config order."""

from __future__ import annotations

from linkedout.extract.backbone import Backbone
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
