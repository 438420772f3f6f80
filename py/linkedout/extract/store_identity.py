"""The TokenStore's identity: what its tokens depend on, so what names the store.

The parts are the format, the dataset, and every ``model`` and ``extract`` key the schema marks
``"x-store-identity": true``, each under its own name — except two pairs where one key decides
whether the other counts: the tiny model's shape counts only when ``model.path`` is empty (part
``model``), ``tap_every`` only when ``taps`` is empty (part ``taps``, rule 2: tap_every counts from
layer 0; the last layer is stored beside the configured taps). TypeScript computes the same
(``extractionKeyParts`` in ts/schedule/extract.ts); schemas/fixtures/store-identity.json holds cases
both test suites check.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..config import STORE_IDENTITY_SECTIONS, section_defaults, store_identity_keys
from ..store.token_store import FORMAT
from ..util.canonical import content_hash


def extraction_key_parts(dataset: str, model: Mapping[str, Any], extract: Mapping[str, Any]) -> dict[str, Any]:
    """The identity parts of a store extracted from `dataset` with these `model` and `extract` sections
    (keys left out take the schema's defaults)."""
    values = {"model": {**section_defaults("model"), **model}, "extract": {**section_defaults("extract"), **extract}}
    parts: dict[str, Any] = {"format": FORMAT, "dataset": dataset}
    for section in STORE_IDENTITY_SECTIONS:
        for key in store_identity_keys(section):
            if key in parts:
                raise ValueError(f"store identity: {section}.{key} collides with another part named {key}")
            parts[key] = values[section][key]
    m, x = values["model"], values["extract"]
    for key in ("path", "tiny", "tap_every"):
        parts.pop(key, None)
    parts["model"] = {"tiny": m["tiny"]} if m["path"] == "" else {"path": m["path"]}
    parts["taps"] = {"taps": x["taps"], "rule": 2} if len(x["taps"]) > 0 else {"tap_every": x["tap_every"], "rule": 2}
    return parts


def extraction_key(dataset: str, model: Mapping[str, Any], extract: Mapping[str, Any]) -> str:
    """The content hash of the parts (ts/schedule/extract.ts ``extractionKey``)."""
    return content_hash(extraction_key_parts(dataset, model, extract))
