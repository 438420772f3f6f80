"""hooks: captures during one generate call equal output_hidden_states; batching does not change them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from linkedout.extract.backbone import Backbone
from linkedout.extract.extractor import ExtractSettings, Extractor
from linkedout.extract.frames import sample_frames
from linkedout.extract.hooks import LayerTaps, resolve_taps, stored_taps


def test_resolve_taps() -> None:
    assert resolve_taps(28, 4) == [0, 4, 8, 12, 16, 20, 24]  # layers 0, k, 2k, ... (the paper's figures: L0, L4, ...)
    assert resolve_taps(28, taps=[0, 4, 8, 12, 16, 20]) == [0, 4, 8, 12, 16, 20]  # configs/microlens-100k/linkedout.yaml
    assert stored_taps(28, [0, 4, 8, 12, 16, 20]) == [0, 4, 8, 12, 16, 20, 27]  # + the last layer, for the last-layer ablation
    assert resolve_taps(8, 2) == [0, 2, 4, 6] and stored_taps(8, [0, 2, 4, 6]) == [0, 2, 4, 6, 7]
    assert resolve_taps(8, taps=[0, -1, 2]) == [0, 2, 7] and stored_taps(8, [0, 2, 7]) == [0, 2, 7]
    with pytest.raises(ValueError, match="out of range"):
        resolve_taps(8, taps=[8])


def test_hooks_equal_output_hidden_states_of_the_same_call(tiny_backbone: Backbone, video_dir: Path) -> None:
    ex = Extractor(tiny_backbone, ExtractSettings(tap_every=1, max_new_tokens=4, merged_tokens=4))
    assert ex.taps == list(range(8))
    videos = [sample_frames(video_dir / f"v{i}.mp4", 8) for i in range(2)]
    inputs = ex.prepare(videos, ["Title: a\nDescribe.", "Title: a much longer title with many words\nDescribe."])
    assert inputs["attention_mask"][0, 0] == 0  # left padded
    cap, out = ex.capture(inputs, output_hidden_states=True, return_dict_in_generate=True)
    hs = out.hidden_states  # per forward pass: (embeddings, layer 0 out, ..., final-normed last layer)
    assert len(hs) == 4 and len(hs[0]) == 9  # G forward passes; L + 1 entries each
    last = tiny_backbone.num_layers - 1
    norm = tiny_backbone.model.model.language_model.norm
    for i, layer in enumerate(ex.taps):
        fix = norm if layer == last else (lambda h: h)  # HF's last entry has the final norm applied
        torch.testing.assert_close(fix(cap.prefill[i]), hs[0][layer + 1], rtol=0, atol=0)
        assert cap.decode[i].shape == (2, 3, 64)  # G - 1 new tokens
        for step in range(1, 4):
            torch.testing.assert_close(fix(cap.decode[i][:, step - 1 : step]), hs[step][layer + 1], rtol=0, atol=0)
    # the last layer really is pre-norm (it would differ from HF's entry without the norm)
    assert not torch.allclose(cap.prefill[last], hs[0][last + 1])


class _TupleLayer(torch.nn.Module):
    """Stands in for a transformers-4 decoder layer, whose forward returns a tuple."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        return x * 2, None


def test_tuple_and_tensor_layer_outputs() -> None:
    layers = torch.nn.ModuleList([_TupleLayer(), torch.nn.Identity()])
    with LayerTaps(layers, [0, 1]) as taps:
        for n in (3, 1, 1):
            x = torch.ones(2, n, 4)
            layers[1](layers[0](x)[0])
    cap = taps.result()
    assert torch.equal(cap.prefill[0], torch.full((2, 3, 4), 2.0))
    assert cap.decode[1].shape == (2, 2, 4)
    assert not layers[0]._forward_hooks and not layers[1]._forward_hooks  # removed on exit


def test_batch_parity_alone_vs_batched_with_other_lengths(tiny_backbone: Backbone, video_dir: Path) -> None:
    ex = Extractor(tiny_backbone, ExtractSettings(tap_every=4, max_new_tokens=4, merged_tokens=6))
    frames = [sample_frames(video_dir / f"v{i}.mp4", 8) for i in range(3)]
    texts = ["Title: cat\nDescribe this video.", "Describe.", "Title: a long street food tour at night, noodles and dumplings\nDescribe this video."]
    alone = ex.run([frames[0]], [texts[0]])
    batched = ex.run(frames, texts)
    assert len(set(batched.n_old)) == 3  # three different prompt lengths, so two rows are padded
    assert batched.n_old[0] == alone.n_old[0]
    assert batched.generated[0] == alone.generated[0]
    for kind in ("old_merged", "old_merged_size", "new", "old_mean", "old_last", "new_last"):
        torch.testing.assert_close(getattr(batched, kind)[0], getattr(alone, kind)[0], rtol=1e-4, atol=1e-5, msg=kind)
