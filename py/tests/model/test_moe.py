"""Cross-Layer MoE: z_v = Σ π_l h(l), dense/top-k gating, load balancing, no-fusion variant (paper §3.3.2)."""

import torch

from linkedout.model.moe import CrossLayerMoE, load_balancing_loss

torch.set_num_threads(1)


def _experts_out(moe: CrossLayerMoE, e: torch.Tensor) -> torch.Tensor:
    return torch.stack([expert(e[:, l]) for l, expert in enumerate(moe.experts)], dim=1)


def test_dense_gate_mixes_expert_outputs_with_softmax_weights() -> None:
    torch.manual_seed(0)
    moe = CrossLayerMoE(n_taps=4, d_c=6, d_z=5, expert_hidden=8, gate_hidden=7, top_k=0, use_gate=True, dropout=0.0).eval()
    e = torch.randn(3, 4, 6)
    out = moe(e)
    h = _experts_out(moe, e)
    torch.testing.assert_close(out.gates.sum(-1), torch.ones(3))
    assert (out.gates > 0).all()
    torch.testing.assert_close(out.z, (out.gates[..., None] * h).sum(1))
    # the gate reads the mean of the experts' outputs (no circular dependence on π)
    torch.testing.assert_close(out.gate_probs, torch.softmax(moe.gate(h.mean(1)), -1))
    assert not torch.allclose(out.gates[0], out.gates[1])  # item-conditioned


def test_top_k_routes_each_item_to_k_layers() -> None:
    torch.manual_seed(1)
    moe = CrossLayerMoE(5, 6, 5, 8, 7, top_k=2, use_gate=True, dropout=0.0).eval()
    out = moe(torch.randn(10, 5, 6))
    assert ((out.gates > 0).sum(-1) == 2).all()
    torch.testing.assert_close(out.gates.sum(-1), torch.ones(10))
    assert torch.equal(out.routed.sum(-1), torch.full((10,), 2.0))
    kept = out.gate_probs.topk(2, dim=-1).indices
    assert torch.equal((out.gates > 0).float(), torch.zeros(10, 5).scatter(1, kept, 1.0))


def test_load_balancing_loss_is_one_when_balanced_and_larger_when_collapsed() -> None:
    uniform = torch.full((8, 4), 0.25)
    balanced_routes = torch.zeros(8, 4).scatter(1, torch.arange(8)[:, None] % 4, 1.0)
    assert abs(float(load_balancing_loss(uniform, balanced_routes, top_k=1)) - 1.0) < 1e-6
    collapsed = torch.tensor([[0.97, 0.01, 0.01, 0.01]]).expand(8, 4)
    all_first = torch.zeros(8, 4).scatter(1, torch.zeros(8, 1, dtype=torch.long), 1.0)
    assert float(load_balancing_loss(collapsed, all_first, top_k=1)) > 3.5


def test_fusion_none_is_the_uniform_average_of_experts() -> None:
    torch.manual_seed(2)
    moe = CrossLayerMoE(3, 6, 5, 8, 7, 0, use_gate=False, dropout=0.0).eval()
    e = torch.randn(4, 3, 6)
    out = moe(e)
    assert moe.gate is None
    torch.testing.assert_close(out.z, _experts_out(moe, e).mean(1))
    torch.testing.assert_close(out.gates, torch.full((4, 3), 1 / 3))
