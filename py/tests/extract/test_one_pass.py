"""One pass per video: the prefix (video + side channels) prefilled once and its KV cache reused by
every prompt gives the features of one full generate per (video, prompt) row (the reference path)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
import torch

from linkedout.extract.backbone import Backbone
from linkedout.extract.extractor import ExtractSettings, Extractor, extract_shard
from linkedout.extract.frames import sample_frames
from linkedout.extract.prompts import chat_prompt, user_text
from linkedout.store.token_store import TokenStore

KINDS = ("old_merged", "old_merged_size", "new", "old_mean", "old_last", "new_last")
# three prompts; two begin with the same words, so that shared prefix reaches into the prompt text
PROMPTS = ("Describe this video in detail.", "Describe this video.", "What is the main topic of this video?")
TITLES = ["a cat", "", "football highlights, the best goals of the season", "street food tour"]


def _items(video_dir: Path) -> list[dict[str, str]]:
    return [{"item": f"v{i}", "video": str(video_dir / f"v{i}.mp4"), "title": t} for i, t in enumerate(TITLES)]


def test_one_pass_inputs_are_the_processors_row_by_row(tiny_backbone: Backbone, video_dir: Path) -> None:
    ex = Extractor(tiny_backbone, ExtractSettings(frames=4, prompts=PROMPTS, max_new_tokens=3))
    items = _items(video_dir)
    videos = [sample_frames(it["video"], 4) for it in items]
    texts = [[user_text(it, p, ["title"]) for p in PROMPTS] for it in items]
    batch = ex.prepare_videos(videos, texts)
    ref = tiny_backbone.processor(text=[chat_prompt(tiny_backbone.processor, t) for ts in texts for t in ts],
                                  videos=[v for v in videos for _ in PROMPTS], return_tensors="pt", padding=True, padding_side="left")
    assert batch.pixel_values_videos.shape[0] == 4  # each video preprocessed once, not once per prompt
    torch.testing.assert_close(batch.pixel_values_videos, ref["pixel_values_videos"][:: len(PROMPTS)], rtol=0, atol=0)
    rv = batch.row_video
    for r in range(len(items) * len(PROMPTS)):
        prefix = batch.prefix_ids[rv[r]][batch.prefix_mask[rv[r]].bool()]
        suffix = batch.suffix_ids[r][batch.suffix_mask[r].bool()]
        assert torch.cat([prefix, suffix]).tolist() == ref["input_ids"][r][ref["attention_mask"][r].bool()].tolist()
    # a video's prefix: its title line and the words "Describe this video" its prompts do not all share
    lengths = batch.prefix_mask.sum(1).tolist()
    assert len(set(lengths)) == len(set(TITLES)) and all(n > 16 for n in lengths)  # 4 frames x 4 tokens + newline


@pytest.mark.parametrize("prompts", [PROMPTS, PROMPTS[:1]], ids=["3-prompts", "1-prompt"])
def test_one_pass_features_equal_row_by_row(tiny_backbone: Backbone, video_dir: Path, prompts: tuple[str, ...]) -> None:
    ex = Extractor(tiny_backbone, ExtractSettings(frames=4, prompts=prompts, tap_every=2, max_new_tokens=4, merged_tokens=6))
    items = _items(video_dir)
    videos = [sample_frames(it["video"], 4) for it in items]
    texts = [[user_text(it, p, ["title"]) for p in prompts] for it in items]
    one = ex.run_videos(videos, texts)
    rows = ex.run([v for v in videos for _ in prompts], [t for ts in texts for t in ts])
    assert one.n_old == rows.n_old and len(set(one.n_old)) > 2
    assert one.generated == rows.generated
    for kind in KINDS:
        a, b = getattr(one, kind), getattr(rows, kind)
        assert a.shape == b.shape and a.shape[0] == len(items) * len(prompts), kind
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=kind)


def test_one_pass_store_equals_row_by_row_store(tiny_backbone: Backbone, video_dir: Path, tmp_path: Path) -> None:
    """extract_shard end to end (producer thread, batches of 2 videos x 3 prompts), fp16 store."""
    settings = ExtractSettings(frames=4, prompts=PROMPTS, tap_every=2, max_new_tokens=3, merged_tokens=5, batch_size=6, store_dtype="float16")
    items = _items(video_dir)
    for name, one_pass in (("one", True), ("rows", False)):
        extract_shard(Extractor(tiny_backbone, settings, one_pass=one_pass), str(tmp_path / name), key="k", dataset="d",
                      items=items, shard=0, num_shards=1)
    one, rows = TokenStore.open(tmp_path / "one", verify=True), TokenStore.open(tmp_path / "rows", verify=True)
    assert one.items == rows.items == [f"v{i}" for i in range(4)]
    every = range(4)
    assert torch.equal(one.get("n_old", every), rows.get("n_old", every))
    for kind in KINDS:
        a, b = one.get(kind, every), rows.get(kind, every)
        assert a.shape[:2] == (4, 3) and a.dtype == b.dtype, kind
        # the same fp32 values up to rounding, each stored rounded to fp16: at most one fp16 step apart
        torch.testing.assert_close(a.float(), b.float(), rtol=2e-3, atol=1e-4, msg=kind)
    # the two stores hold the same columns
    reader = pa.ipc.open_file(str(tmp_path / "one" / "shard-0.arrow"))
    assert reader.schema.equals(pa.ipc.open_file(str(tmp_path / "rows" / "shard-0.arrow")).schema)
