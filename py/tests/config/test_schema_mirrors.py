"""The Python settings dataclasses mirror the config schemas: same keys, same types and enums, and
defaults that come from the schema (schemas/ is the one place a default or the prompt bank is written)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import MISSING, fields, is_dataclass
from typing import Any, Literal, get_args, get_origin, get_type_hints

import pytest

from linkedout.config import SCHEMA_DIR, default, section_defaults, section_schema
from linkedout.extract.extractor import SCHEDULER_ONLY_KEYS, ExtractSettings
from linkedout.extract.tiny_model import TinyModelSpec
from linkedout.model.config import RecommenderConfig, to_dict
from linkedout.train.spec import TrainConfig

REPO = SCHEMA_DIR.parent
JSON_TYPES = {int: "integer", float: "number", bool: "boolean", str: "string"}


def _check(cls: type, schema: dict[str, Any], path: str, skip: frozenset[str] = frozenset()) -> None:
    hints = get_type_hints(cls)
    props = {k: v for k, v in schema["properties"].items() if k not in skip}
    assert {f.name for f in fields(cls)} == set(props), path
    for f in fields(cls):
        prop, hint, where = props[f.name], hints[f.name], f"{path}.{f.name}"
        if is_dataclass(hint):
            _check(hint, prop, where)  # type: ignore[arg-type]
        elif get_origin(hint) is Literal:
            assert sorted(get_args(hint)) == sorted(prop["enum"]), where
        elif get_origin(hint) is tuple:
            assert prop["type"] == "array" and JSON_TYPES[get_args(hint)[0]] == prop["items"]["type"], where
        elif "enum" in prop:
            assert hint is str and all(isinstance(v, str) for v in prop["enum"]), where
        else:
            assert JSON_TYPES[hint] == prop["type"], where
        value = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        assert not (isinstance(value, bool) and hint is not bool), where


@pytest.mark.parametrize(
    "cls,section,skip",
    [(RecommenderConfig, "recommender", frozenset()), (TrainConfig, "train", frozenset()), (ExtractSettings, "extract", SCHEDULER_ONLY_KEYS)],
)
def test_dataclass_fields_and_types_match_the_section_schema(cls: type, section: str, skip: frozenset[str]) -> None:
    _check(cls, section_schema(section), section, skip)
    expected = {k: v for k, v in section_defaults(section).items() if k not in skip}
    assert to_dict(cls()) == json.loads(json.dumps(expected))  # tuples as lists on both sides


def test_tiny_model_defaults_are_the_model_tiny_section() -> None:
    spec = TinyModelSpec()
    assert {k: getattr(spec, k) for k in section_schema("model")["properties"]["tiny"]["properties"]} == section_defaults("model")["tiny"]


def test_defaults_fill_nested_objects_from_their_keys() -> None:
    assert default("train", "lr.ranker") == section_schema("train")["properties"]["lr"]["properties"]["ranker"]["default"]
    assert isinstance(default("extract", "prompts"), tuple) and len(default("extract", "prompts")) >= 1


def test_the_prompt_bank_is_written_only_in_schemas() -> None:
    for prompt in default("extract", "prompts"):
        grep = subprocess.run(["git", "grep", "-l", "-F", prompt], cwd=REPO, capture_output=True, text=True)
        if grep.returncode not in (0, 1):
            pytest.skip(f"not a git checkout: {grep.stderr.strip()}")
        found = grep.stdout.split()
        assert found == ["schemas/config/extract.schema.json"], (prompt, found)
