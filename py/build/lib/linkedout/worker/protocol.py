"""Wire protocol version 1: header schemas (schemas/protocol/*.schema.json) and their validation.

The schemas are the single definition shared with the TypeScript side (ts/worker/protocol.ts).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.validators import Draft202012Validator
from referencing import Registry, Resource

PROTOCOL_VERSION = 1
SCHEMA_DIR = Path(__file__).resolve().parents[3] / "schemas" / "protocol"
OPS_SCHEMA_DIR = SCHEMA_DIR / "ops"
HEADER_SCHEMAS = ("request", "reply", "frame")


@lru_cache(maxsize=None)
def _registry() -> Registry:
    resources = []
    for path in sorted(SCHEMA_DIR.glob("*.schema.json")):
        doc = json.loads(path.read_text())
        resources.append((doc["$id"], Resource.from_contents(doc)))
    return Registry().with_resources(resources)


@lru_cache(maxsize=None)
def header_validator(name: str) -> Draft202012Validator:
    """Validator for schemas/protocol/<name>.schema.json (request | reply | frame)."""
    doc = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())
    Draft202012Validator.check_schema(doc)
    return Draft202012Validator(doc, registry=_registry())


@lru_cache(maxsize=None)
def args_validator(op_schema: str) -> Draft202012Validator:
    """Validator for schemas/protocol/ops/<op_schema>.args.schema.json."""
    path = OPS_SCHEMA_DIR / f"{op_schema}.args.schema.json"
    doc = json.loads(path.read_text())
    Draft202012Validator.check_schema(doc)
    return Draft202012Validator(doc, registry=_registry())


def first_error(validator: Draft202012Validator, instance: Any, root: str) -> str | None:
    """One line naming the path and the problem of the most relevant error, or None if valid."""
    error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    if error is None:
        return None
    path = root + "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return f"{path}: {error.message}"
