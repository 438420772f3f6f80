"""encode_users (evaluation, the rank op, serving) equals the training forward's user vector."""

import pytest
import torch

from linkedout.model.config import RankerConfig, RecommenderConfig
from linkedout.model.rankers import last_position
from linkedout.model.recommender import LinkedOutRecommender

torch.set_num_threads(1)


@pytest.mark.parametrize("ranker", ["sasrec", "gru4rec", "nextitnet"])
def test_encode_users_equals_forward_at_each_history_end(ranker: str) -> None:
    torch.manual_seed(0)
    cfg = RecommenderConfig(item_content=False, item_id_embeddings=True, d_z=16, dropout=0.1,
                            ranker=RankerConfig(name=ranker, layers=2, heads=2, max_history=10))
    model = LinkedOutRecommender(cfg, n_items=50, d_model=8, n_taps=1, n_prompts=1).eval()
    items = torch.arange(50)
    lengths = torch.tensor([10, 1, 5, 3])
    history_rows = torch.randint(0, 50, (4, 10), generator=torch.Generator().manual_seed(1))  # padding: random rows
    with torch.inference_mode():
        out = model(items, None, history_rows)
        users = model.encode_users(out.z_all[history_rows], lengths)
    assert users.shape == (4, 16)
    torch.testing.assert_close(users, last_position(out.per_position, lengths), rtol=1e-6, atol=1e-6)
