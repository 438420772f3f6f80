"""Layer Token Compressor: masking, ToMe proportional attention, prompt mixing (paper §3.3.1)."""

import torch

from linkedout.model.compressor import AttentionPooling, LayerTokenCompressor, PromptMixer

torch.set_num_threads(1)


def test_masked_slots_do_not_influence_the_pooled_vector() -> None:
    torch.manual_seed(0)
    pool = AttentionPooling(d_in=8, d_out=6, n_queries=3, n_heads=2, dropout=0.0)
    tokens = torch.randn(2, 5, 8)
    bias = torch.zeros(2, 5)
    bias[:, 3:] = float("-inf")
    changed = tokens.clone()
    changed[:, 3:] = torch.randn(2, 2, 8) * 100
    torch.testing.assert_close(pool(tokens, bias), pool(changed, bias))
    assert not torch.allclose(pool(tokens, torch.zeros(2, 5)), pool(changed, torch.zeros(2, 5)))


def test_a_row_without_tokens_pools_to_zero_not_nan() -> None:
    pool = AttentionPooling(8, 6, 2, 2, 0.0)
    out = pool(torch.randn(3, 4, 8), torch.tensor([[0.0] * 4, [float("-inf")] * 4, [0.0, 0.0, float("-inf"), 0.0]]))
    assert torch.isfinite(out).all()
    assert torch.equal(out[1], torch.zeros(6))
    assert out[0].abs().sum() > 0


def test_proportional_attention_makes_a_merged_token_weigh_like_its_sources() -> None:
    # ToMe: a merged token of size s with log(s) added to its logit attends exactly like s copies of it.
    torch.manual_seed(1)
    comp = LayerTokenCompressor(d_model=8, d_c=12, old_queries=2, new_queries=1, heads=2, proportional_attention=True, dropout=0.0).eval()
    a, b = torch.randn(8), torch.randn(8)
    new, new_valid = torch.randn(1, 2, 8), torch.ones(1, 2, dtype=torch.bool)
    merged = comp(torch.stack([a, b])[None], torch.tensor([[3.0, 1.0]]), new, new_valid)
    copies = comp(torch.stack([a, a, a, b])[None], torch.ones(1, 4), new, new_valid)
    torch.testing.assert_close(merged, copies)
    plain = LayerTokenCompressor(8, 12, 2, 1, 2, proportional_attention=False, dropout=0.0).eval()
    plain.load_state_dict(comp.state_dict())
    assert not torch.allclose(plain(torch.stack([a, b])[None], torch.tensor([[3.0, 1.0]]), new, new_valid), copies)


def test_compressor_output_is_old_half_then_new_half() -> None:
    torch.manual_seed(2)
    comp = LayerTokenCompressor(8, 12, 2, 1, 2, True, 0.0).eval()
    old, size = torch.randn(2, 4, 8), torch.ones(2, 4)
    new, valid = torch.randn(2, 3, 8), torch.ones(2, 3, dtype=torch.bool)
    out = comp(old, size, new, valid)
    assert out.shape == (2, 12)
    out2 = comp(old, size, torch.randn(2, 3, 8), valid)  # (a constant shift would vanish in LayerNorm)
    torch.testing.assert_close(out[:, :6], out2[:, :6])  # old half ignores new tokens
    assert not torch.allclose(out[:, 6:], out2[:, 6:])


def test_prompt_mixer_is_a_convex_combination_per_layer() -> None:
    mixer = PromptMixer(n_taps=3, n_prompts=2, learnable=True)
    with torch.no_grad():
        mixer.logits.copy_(torch.tensor([[0.0, 0.0], [10.0, -10.0], [-10.0, 10.0]]))
    e = torch.randn(4, 2, 3, 5)  # [B, P, T, d_c]
    out = mixer(e)
    torch.testing.assert_close(out[:, 0], e[:, :, 0].mean(1))
    torch.testing.assert_close(out[:, 1], e[:, 0, 1], atol=1e-6, rtol=1e-4)
    torch.testing.assert_close(out[:, 2], e[:, 1, 2], atol=1e-6, rtol=1e-4)
    torch.testing.assert_close(mixer.weights().sum(-1), torch.ones(3))
    torch.testing.assert_close(PromptMixer(3, 2, learnable=False)(e), e.mean(1))
