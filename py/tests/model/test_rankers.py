"""User encoders are causal and right-padding safe; the registry is explicit."""

import pytest
import torch

from linkedout.model.config import RankerConfig
from linkedout.model.rankers import RANKERS, build_user_encoder, last_position

torch.set_num_threads(1)


@pytest.mark.parametrize("name", sorted(RANKERS))
def test_position_t_sees_only_items_up_to_t(name: str) -> None:
    torch.manual_seed(0)
    enc = build_user_encoder(8, RankerConfig(name=name, layers=2, heads=2, max_history=6), dropout=0.0).eval()
    seq = torch.randn(2, 6, 8)
    changed = seq.clone()
    changed[:, 4] += 5.0
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
