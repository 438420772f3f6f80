"""The TokenStore's identity from the schema's ``x-store-identity`` marks: the cases of
schemas/fixtures/store-identity.json, which the TypeScript suite checks too
(test/schedule/store-identity.test.ts), so both languages name a store the same."""

from __future__ import annotations

import json

import pytest

from linkedout.config import SCHEMA_DIR, STORE_IDENTITY_SECTIONS, section_schema, store_identity_keys
from linkedout.extract.store_identity import extraction_key, extraction_key_parts
from linkedout.util.canonical import canonical_json

CASES = json.loads((SCHEMA_DIR / "fixtures" / "store-identity.json").read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture(case: dict) -> None:
    if "parts" in case:
        assert json.loads(json.dumps(extraction_key_parts(case["dataset"], case["model"], case["extract"]))) == case["parts"]
    assert extraction_key(case["dataset"], case["model"], case["extract"]) == case["key"]


def test_every_model_and_extract_key_is_marked() -> None:
    for section in STORE_IDENTITY_SECTIONS:
        marked = store_identity_keys(section)  # raises on an unmarked key
        assert set(marked) <= set(section_schema(section)["properties"])
    assert {"path", "tiny"} <= set(store_identity_keys("model"))
    assert {"taps", "tap_every"} <= set(store_identity_keys("extract"))


def test_an_unmarked_key_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    schema = json.loads(json.dumps(section_schema("extract")))
    schema["properties"]["probe_setting"] = {"type": "integer", "default": 3}
    monkeypatch.setattr("linkedout.config.section_schema", lambda section: schema)
    with pytest.raises(ValueError, match=r'extract\.probe_setting must say "x-store-identity": true or false'):
        store_identity_keys("extract")


def test_canonical_json_writes_numbers_and_text_as_javascript_does() -> None:
    # JSON.stringify's number and string forms (ECMA-262 Number::toString), keys sorted by code unit
    assert canonical_json({"b": [1, 2.5, 100.0], "a": None, "é": "x\n"}) == '{"a":null,"b":[1,2.5,100],"é":"x\\n"}'
    assert canonical_json([1e-7, 1.5e-5, 1e21, 123456789012345680000.0, -0.001]) == "[1e-7,0.000015,1e+21,123456789012345680000,-0.001]"
