"""The experiment config's defaults, read from the JSON Schemas (schemas/config/<section>.schema.json).

The schemas are the one definition of every config key and default. TypeScript's types and the
Python section dataclasses (``linkedout.config.generated``, subclassed with their checks by
``linkedout.model.config``, ``linkedout.train.spec``, ``linkedout.extract.extractor``) are generated from
them by `npm run gen:config`; test/config/generated.test.ts fails when a generated file is stale.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).resolve().parents[3] / "schemas"


@cache
def section_schema(section: str) -> dict[str, Any]:
    """schemas/config/<section>.schema.json, parsed."""
    return json.loads((SCHEMA_DIR / "config" / f"{section}.schema.json").read_text())


def _filled(node: dict[str, Any]) -> Any:
    """The value a node takes when unset: its default, with an object's own keys filled in."""
    value = node.get("default")
    if node.get("type") == "object" and "properties" in node:
        given = value if isinstance(value, dict) else {}
        return {key: given[key] if key in given else _filled(prop) for key, prop in node["properties"].items()}
    return value


def _frozen(value: Any) -> Any:
    """Lists as tuples: dataclass defaults must be immutable."""
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return {k: _frozen(v) for k, v in value.items()}
    return value


def section_defaults(section: str) -> dict[str, Any]:
    """What `<section>: {}` resolves to, lists as tuples, e.g. section_defaults("train")["lr"]["ranker"]."""
    return _frozen(_filled(section_schema(section)))


def default(section: str, path: str) -> Any:
    """The default of one key, by dotted path: default("recommender", "ranker.max_history")."""
    value: Any = section_defaults(section)
    for part in path.split("."):
        value = value[part]
    return value


STORE_IDENTITY_SECTIONS = ("model", "extract")
"""The config sections whose keys feed extraction: each key says ``"x-store-identity": true | false``."""


def store_identity_keys(section: str) -> list[str]:
    """The section's keys marked ``"x-store-identity": true``: what the TokenStore's tokens depend on.

    A key marked neither true nor false raises: a new key must say whether it changes the tokens
    (TypeScript: ``storeIdentityKeys`` in ts/config/schema.ts)."""
    props = section_schema(section)["properties"]
    unmarked = [k for k, p in props.items() if not isinstance(p.get("x-store-identity"), bool)]
    if unmarked:
        raise ValueError(f"schemas/config/{section}.schema.json: {', '.join(f'{section}.{k}' for k in unmarked)} "
                         'must say "x-store-identity": true or false')
    return [k for k, p in props.items() if p["x-store-identity"] is True]
