"""The Python config mirrors agree with the JSON schemas and reject unknown keys by path."""

import json
from dataclasses import fields, is_dataclass
from pathlib import Path

import pytest

from linkedout.model.config import ConfigError, RecommenderConfig, from_dict, to_dict
from linkedout.train.spec import TrainConfig, TrainSpec

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas" / "config"


def _schema_defaults(schema: dict) -> dict:
    out = {}
    for key, prop in schema["properties"].items():
        out[key] = _schema_defaults(prop) if prop.get("type") == "object" and "properties" in prop else prop["default"]
    return out


@pytest.mark.parametrize("cls,file", [(RecommenderConfig, "recommender"), (TrainConfig, "train")])
def test_schema_defaults_equal_dataclass_defaults(cls: type, file: str) -> None:
    schema = json.loads((SCHEMAS / f"{file}.schema.json").read_text())
    assert _schema_defaults(schema) == to_dict(cls())

    def keys(c: type) -> set[str]:
        return {f.name for f in fields(c)}

    assert set(schema["properties"]) == keys(cls)
    for f in fields(cls):
        if is_dataclass(f.default_factory()) if callable(f.default_factory) else False:  # type: ignore[misc]
            assert set(schema["properties"][f.name]["properties"]) == keys(type(f.default_factory()))  # type: ignore[misc]


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
