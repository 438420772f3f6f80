"""User encoders are causal and right-padding safe; the registry is explicit."""

import pytest
import torch

from torch import nn

from linkedout.model.config import RankerConfig, RankerNorm
from linkedout.model.rankers import RANKERS, build_user_encoder, last_position

torch.set_num_threads(1)


ENCODERS = [(name, "pre") for name in sorted(RANKERS)] + [("sasrec", "post")]  # norm only shapes sasrec


@pytest.mark.parametrize(("name", "norm"), ENCODERS)
def test_position_t_sees_only_items_up_to_t(name: str, norm: RankerNorm) -> None:
    torch.manual_seed(0)
    enc = build_user_encoder(8, RankerConfig(name=name, layers=2, heads=2, max_history=6, norm=norm), dropout=0.0).eval()
    seq = torch.randn(2, 6, 8)
    changed = seq.clone()
    changed[:, 4] += 5.0 * torch.randn(2, 8)  # not a constant shift: a LayerNorm on the inputs (post) removes that
    a, b = enc(seq), enc(changed)
    torch.testing.assert_close(a[:, :4], b[:, :4])
    assert not torch.allclose(a[:, 4], b[:, 4])


@pytest.mark.parametrize("name", sorted(RANKERS))
def test_user_vector_ignores_right_padding(name: str) -> None:
    torch.manual_seed(1)
    enc = build_user_encoder(8, RankerConfig(name=name, max_history=10), dropout=0.0).eval()
    seq = torch.randn(1, 3, 8)
    padded = torch.cat([seq, torch.randn(1, 4, 8)], dim=1)
    lengths = torch.tensor([3])
    torch.testing.assert_close(last_position(enc(seq), lengths), last_position(enc(padded), lengths))


def test_unknown_ranker_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="recommender.ranker.name: unknown ranker 'bert4rec'"):
        build_user_encoder(8, RankerConfig(name="bert4rec"), 0.0)  # type: ignore[arg-type]


def _padded_batch(d: int, lengths: list[int], width: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded histories [B, width, d] whose padding is random (not zero), and their lengths [B]."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(len(lengths), width, d, generator=gen), torch.tensor(lengths)


@pytest.mark.parametrize("norm", ["pre", "post"])
@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize(("lengths", "width"), [([10, 1, 3, 7, 10, 2], 10), ([1, 4, 2], 4), ([1, 1], 1), ([10], 10)])
def test_sasrec_last_only_path_equals_full_path_at_last_position(layers: int, lengths: list[int], width: int,
                                                                 norm: RankerNorm) -> None:
    # The user vector path (serving, rank op, evaluation) runs the final block at position length-1 only;
    # it must equal the training forward read at that position, short and padded histories included.
    torch.manual_seed(layers)
    enc = build_user_encoder(32, RankerConfig(name="sasrec", layers=layers, heads=2, max_history=10, norm=norm),
                             dropout=0.1).eval()
    seq, lens = _padded_batch(32, lengths, width, seed=width + len(lengths))
    with torch.inference_mode():
        full = last_position(enc(seq), lens)
        last_only = enc(seq, lens)
    assert last_only.shape == (len(lengths), 32)
    torch.testing.assert_close(last_only, full, rtol=1e-6, atol=1e-6)


def test_sasrec_last_only_path_queries_one_position_per_user() -> None:
    enc = build_user_encoder(16, RankerConfig(name="sasrec", layers=2, heads=2, max_history=10), dropout=0.0).eval()
    seen: list[tuple[int, ...]] = []
    for block in enc.blocks:
        block.query.register_forward_hook(lambda _m, inputs, _o: seen.append(tuple(inputs[0].shape)))
    seq, lens = _padded_batch(16, [10, 4, 1], 10, seed=3)
    enc(seq, lens)
    assert seen == [(3, 10, 16), (3, 1, 16)]  # first block: every position; final block: the last one only


@pytest.mark.parametrize("name", sorted(RANKERS))
def test_user_vectors_with_lengths_equal_the_training_forward(name: str) -> None:
    torch.manual_seed(4)
    enc = build_user_encoder(8, RankerConfig(name=name, layers=2, heads=2, max_history=10), dropout=0.0).eval()
    seq, lens = _padded_batch(8, [10, 1, 6], 10, seed=4)
    torch.testing.assert_close(enc(seq, lens), last_position(enc(seq), lens), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_sasrec_equals_torch_transformer_encoder_layers_with_its_weights(norm: RankerNorm) -> None:
    # An independent implementation of both LayerNorm placements: torch's nn.TransformerEncoderLayer
    # (norm_first=True is pre-LN), causal mask, GELU, our weights copied in. Around the blocks, pre-LN has
    # one LayerNorm after the last block and post-LN one on the input embeddings.
    torch.manual_seed(5)
    d, length = 16, 7
    enc = build_user_encoder(d, RankerConfig(name="sasrec", layers=2, heads=2, max_history=10, norm=norm), dropout=0.0).eval()
    with torch.no_grad():
        for module in enc.modules():  # non-trivial LayerNorms: a norm applied in the wrong place shows
            if isinstance(module, nn.LayerNorm):
                module.weight.normal_(1.0, 0.3)
                module.bias.normal_(0.0, 0.3)
    reference = []
    for block in enc.blocks:
        layer = nn.TransformerEncoderLayer(d, 2, dim_feedforward=4 * d, dropout=0.0, activation="gelu", batch_first=True,
                                           norm_first=norm == "pre")
        with torch.no_grad():
            layer.self_attn.in_proj_weight.copy_(torch.cat([block.query.weight, block.key.weight, block.value.weight]))
            layer.self_attn.in_proj_bias.copy_(torch.cat([block.query.bias, torch.zeros(d), block.value.bias]))
            layer.self_attn.out_proj.load_state_dict(block.proj.state_dict())
            layer.linear1.load_state_dict(block.ffn[0].state_dict())
            layer.linear2.load_state_dict(block.ffn[3].state_dict())
            layer.norm1.load_state_dict(block.norm_attn.state_dict())
            layer.norm2.load_state_dict(block.norm_ffn.state_dict())
        reference.append(layer.eval())
    seq = torch.randn(3, length, d)
    causal = nn.Transformer.generate_square_subsequent_mask(length)
    with torch.inference_mode():
        x = seq + enc.positions.weight[:length]
        x = enc.norm(x) if norm == "post" else x
        for layer in reference:
            x = layer(x, src_mask=causal, is_causal=True)
        expected = enc.norm(x) if norm == "pre" else x
        torch.testing.assert_close(enc(seq), expected, rtol=1e-5, atol=1e-5)
