"""The Python half of the pythonia comparison in `lo-exp bench transport` (ts/bench/transport.ts).

pythonia passes JS typed arrays by reference (each element read is a bridge round trip), so the
fastest way to move a tensor through it is one base64 string each way; this module decodes it into a
float32 array (as the worker would hold a tensor) and returns it encoded the same way.
"""

from __future__ import annotations

import base64

import numpy as np


def echo_base64_float32(data: str) -> str:
    tensor = np.frombuffer(base64.b64decode(data), dtype=np.float32)
    return base64.b64encode(tensor.tobytes()).decode("ascii")


def echo_list_float32(values: list[float]) -> list[float]:
    """The same, for a tensor handed over as a plain JS array (pythonia's default marshalling: JSON)."""
    tensor = np.asarray(values, dtype=np.float32)
    return tensor.tolist()
