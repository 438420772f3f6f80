"""The Python config mirrors reject unknown keys by path and round-trip (their agreement with the
schemas: generated from them, py/tests/config/test_generated.py)."""

import pytest

from linkedout.model.config import ConfigError, RecommenderConfig, from_dict, to_dict
from linkedout.train.spec import TrainConfig, TrainSpec


def test_unknown_and_bad_keys_name_their_path() -> None:
    with pytest.raises(ConfigError, match=r"recommender\.moe\.topk: unknown key"):
        from_dict(RecommenderConfig, {"moe": {"topk": 2}}, "recommender")
    with pytest.raises(ConfigError, match=r"recommender\.pooling: 'max' is not one of"):
        from_dict(RecommenderConfig, {"pooling": "max"}, "recommender")
    with pytest.raises(ConfigError, match=r"train\.lr\.ranker: expected a number"):
        from_dict(TrainConfig, {"lr": {"ranker": "fast"}}, "train")
    with pytest.raises(ConfigError, match=r"spec\.epochs: unknown key"):
        TrainSpec.from_json({"run_dir": "r", "split_dir": "s", "epochs": 3})
    with pytest.raises(ConfigError, match="item_content=false needs item_id_embeddings=true"):
        from_dict(RecommenderConfig, {"item_content": False}, "recommender")


def test_round_trip() -> None:
    cfg = from_dict(RecommenderConfig, {"ranker": {"name": "nextitnet", "dilations": [1, 4]}, "d_z": 64}, "recommender")
    assert from_dict(RecommenderConfig, to_dict(cfg), "recommender") == cfg
    assert cfg.ranker.dilations == (1, 4)
