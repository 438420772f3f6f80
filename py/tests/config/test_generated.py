"""The generated Python types (py/linkedout/config/generated.py, py/linkedout/protocol/op_args.py, written
by `npm run gen:config` from schemas/; test/config/generated.test.ts fails when they are stale) mean what
the schemas say: defaults, unknown keys, required keys, and the modules' checked subclasses add no field."""

from __future__ import annotations

import json
import subprocess
from dataclasses import fields

import pytest

from linkedout.config import SCHEMA_DIR, default, section_defaults, section_schema
from linkedout.config import generated
from linkedout.config.typed import ConfigError, from_dict, to_dict
from linkedout.extract.extractor import ExtractSettings
from linkedout.extract.tiny_model import TinyModelSpec
from linkedout.model.config import RecommenderConfig
from linkedout.protocol.op_args import EmbedArgs, RankArgs, TrainArgs
from linkedout.train.spec import TrainConfig

REPO = SCHEMA_DIR.parent
SECTIONS = sorted(p.name.removesuffix(".schema.json") for p in (SCHEMA_DIR / "config").glob("*.schema.json"))


def _worker_keys(section: str) -> dict:
    """The section's defaults less its `x-scheduler-only` keys, as JSON."""
    props = section_schema(section)["properties"]
    return json.loads(json.dumps({k: v for k, v in section_defaults(section).items() if not props[k].get("x-scheduler-only")}))


@pytest.mark.parametrize("section", SECTIONS)
def test_each_section_class_defaults_to_what_the_schema_resolves(section: str) -> None:
    cls = getattr(generated, f"{''.join(w.title() for w in section.split('_'))}Section")
    assert to_dict(cls()) == _worker_keys(section)


@pytest.mark.parametrize("checked,section", [(RecommenderConfig, "recommender"), (TrainConfig, "train"), (ExtractSettings, "extract")])
def test_the_checked_subclasses_add_no_field(checked: type, section: str) -> None:
    base = getattr(generated, f"{section.title()}Section")
    assert issubclass(checked, base) and [f.name for f in fields(checked)] == [f.name for f in fields(base)]
    assert to_dict(checked()) == _worker_keys(section)


def test_unknown_and_missing_keys_and_wrong_types_name_the_path() -> None:
    with pytest.raises(ConfigError, match=r"^recommender\.moe\.topk: unknown key"):
        from_dict(RecommenderConfig, {"moe": {"topk": 2}}, "recommender")
    with pytest.raises(ConfigError, match=r"^args\.shard: required"):
        RankArgs.from_json({"run_dir": "r", "split": "test", "out": "o"}, "args")
    with pytest.raises(ConfigError, match=r"^args\.split: 'train' is not one of 'valid', 'test'"):
        RankArgs.from_json({"run_dir": "r", "split": "train", "shard": {"index": 0, "count": 1}, "out": "o"}, "args")
    with pytest.raises(ConfigError, match=r"^train\.epochs: expected an integer"):
        from_dict(TrainConfig, {"epochs": True}, "train")


def test_op_args_take_the_schema_defaults() -> None:
    schema = json.loads((SCHEMA_DIR / "protocol" / "ops" / "train.args.schema.json").read_text())["properties"]
    args = TrainArgs.from_json({"run_dir": "r", "split_dir": "s"}, "args")
    assert (args.resume, args.write_ranks, args.device) == (schema["resume"]["default"], schema["write_ranks"]["default"], schema["device"]["default"])
    # no default in the schema: absent is None (rank: the run's own train.topk; embed: the run's own store)
    assert RankArgs.from_json({"run_dir": "r", "split": "test", "shard": {"index": 0, "count": 1}, "out": "o"}, "args").topk is None
    assert EmbedArgs.from_json({"run_dir": "r"}, "args").store is None


def test_tiny_model_defaults_are_the_model_tiny_section() -> None:
    spec = TinyModelSpec()
    assert {k: getattr(spec, k) for k in section_schema("model")["properties"]["tiny"]["properties"]} == section_defaults("model")["tiny"]


def test_defaults_fill_nested_objects_from_their_keys() -> None:
    assert default("train", "lr.ranker") == section_schema("train")["properties"]["lr"]["properties"]["ranker"]["default"]
    assert isinstance(default("extract", "prompts"), tuple) and len(default("extract", "prompts")) >= 1


def test_the_prompt_bank_is_written_only_in_schemas() -> None:
    """Besides the schema, only its generated copy (checked by test/config/generated.test.ts) holds it."""
    for prompt in default("extract", "prompts"):
        grep = subprocess.run(["git", "grep", "-l", "-F", prompt], cwd=REPO, capture_output=True, text=True)
        if grep.returncode not in (0, 1):
            pytest.skip(f"not a git checkout: {grep.stderr.strip()}")
        found = grep.stdout.split()
        assert found == ["py/linkedout/config/generated.py", "schemas/config/extract.schema.json"], (prompt, found)
