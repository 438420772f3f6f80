"""Canonical JSON and the short content hash, byte for byte as ts/util/fs.ts writes them
(``canonicalJson``: JSON.stringify with sorted keys; ``contentHash``: its sha256, hex, first 16).

So a hash computed in Python names the same thing as the one TypeScript computed (the TokenStore key).
"""

from __future__ import annotations

import hashlib
import json
import math
from decimal import Decimal
from typing import Any


def _js_number(x: float) -> str:
    """A float as JavaScript's Number.prototype.toString writes it (shortest round-trip digits)."""
    if not math.isfinite(x):
        return "null"  # JSON.stringify(NaN) === "null"
    if x == 0:
        return "0"
    sign, digits, exp = Decimal(repr(x)).normalize().as_tuple()
    s = "".join(map(str, digits))
    k, n = len(s), len(s) + int(exp)  # value = 0.s × 10^n
    minus = "-" if sign else ""
    if k <= n <= 21:
        return minus + s + "0" * (n - k)
    if 0 < n <= 21:
        return minus + s[:n] + "." + s[n:]
    if -6 < n <= 0:
        return minus + "0." + "0" * -n + s
    e = n - 1
    return minus + s[0] + ("." + s[1:] if k > 1 else "") + "e" + ("+" if e >= 0 else "-") + str(abs(e))


def _write(v: Any, out: list[str]) -> None:
    if isinstance(v, dict):
        out.append("{")
        for i, key in enumerate(sorted(v, key=lambda k: k.encode("utf-16-be"))):  # JS sorts by UTF-16 code unit
            if i:
                out.append(",")
            out.append(json.dumps(key, ensure_ascii=False))
            out.append(":")
            _write(v[key], out)
        out.append("}")
    elif isinstance(v, (list, tuple)):
        out.append("[")
        for i, x in enumerate(v):
            if i:
                out.append(",")
            _write(x, out)
        out.append("]")
    elif isinstance(v, bool) or v is None or isinstance(v, str):
        out.append(json.dumps(v, ensure_ascii=False))
    elif isinstance(v, int):
        out.append(str(v))
    elif isinstance(v, float):
        out.append(_js_number(v))
    else:
        raise TypeError(f"not JSON: {type(v).__name__}")


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces, as ts/util/fs.ts ``canonicalJson``."""
    out: list[str] = []
    _write(value, out)
    return "".join(out)


def content_hash(value: Any, length: int = 16) -> str:
    """Short content hash (hex) of a JSON-able value, as ts/util/fs.ts ``contentHash``."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()[:length]
