"""Header schemas against the shared vectors in schemas/fixtures/headers.json, and the op table's schemas."""

from __future__ import annotations

import re

import pytest

from linkedout.worker.fixtures import load_json
from linkedout.worker.protocol import OPS_SCHEMA_DIR, args_validator, first_error, header_validator
from linkedout.worker.registry import OPS

HEADERS = load_json("headers.json")


@pytest.mark.parametrize("case", HEADERS["valid"], ids=lambda c: c["name"])
def test_valid_headers_pass(case: dict) -> None:
    assert first_error(header_validator(case["schema"]), case["header"], "header") is None


@pytest.mark.parametrize("case", HEADERS["invalid"], ids=lambda c: c["name"])
def test_invalid_headers_fail_naming_the_field(case: dict) -> None:
    problem = first_error(header_validator(case["schema"]), case["header"], "header")
    assert problem is not None
    assert problem.startswith("header")
    assert re.search(case["mentions"], problem), problem


def test_every_registered_op_has_a_strict_args_schema() -> None:
    for name in OPS:
        path = OPS_SCHEMA_DIR / f"{name}.args.schema.json"
        assert path.exists(), f"op {name}: missing {path}"
        validator = args_validator(name)  # also checks the schema itself is valid 2020-12
        assert validator.schema.get("additionalProperties") is False, f"{path}: set additionalProperties: false"
        assert validator.schema.get("$schema") == "https://json-schema.org/draft/2020-12/schema"


def test_args_errors_name_the_path() -> None:
    problem = first_error(args_validator("echo"), {"delay_s": -1}, "args")
    assert problem is not None and problem.startswith("args.delay_s:")
