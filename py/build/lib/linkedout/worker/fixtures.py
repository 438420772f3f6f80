"""Writes the shared protocol test vectors in schemas/fixtures/ that both test suites read.

    python -m linkedout.worker.fixtures      # regenerate the Python-written files

`tensors.json` lists every tensor case with its exact values; `tensors/py/<name>.arrow` is written here
by the Python codec and `tensors/ts/<name>.arrow` by the TypeScript codec (ts/worker/fixtures.ts), so
each side decodes the other's bytes. `tensors/invalid/*.arrow` are malformed on purpose.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from .codec import DTYPES, encode_tensor
from .protocol import SCHEMA_DIR

FIXTURE_DIR = SCHEMA_DIR.parent / "fixtures"
TENSOR_DIR = FIXTURE_DIR / "tensors"


def load_tensor_cases() -> list[dict[str, Any]]:
    return json.loads((FIXTURE_DIR / "tensors.json").read_text())["cases"]


def load_invalid_tensor_cases() -> list[dict[str, Any]]:
    return json.loads((FIXTURE_DIR / "tensors.json").read_text())["invalid"]


def load_json(name: str) -> Any:
    """schemas/fixtures/<name> parsed."""
    return json.loads((FIXTURE_DIR / name).read_text())


def case_tensor(case: dict[str, Any]) -> torch.Tensor:
    """The exact tensor a case describes (`bits` for 16-bit floats, decimal strings for int64)."""
    dtype, shape = case["dtype"], case["shape"]
    np_wire = DTYPES[dtype][1]
    if "bits" in case:
        flat = np.array(case["bits"], dtype=np.uint16)
        t = torch.from_numpy(flat.view(np.int16).copy()).view(torch.float16 if dtype == "float16" else torch.bfloat16)
    elif dtype == "int64":
        t = torch.tensor([int(v) for v in case["values"]], dtype=torch.int64)
    elif dtype == "bool":
        t = torch.tensor([bool(v) for v in case["values"]], dtype=torch.bool)
    else:
        t = torch.from_numpy(np.array(case["values"], dtype=np_wire))
    return t.reshape(shape)


def _stream(batch: pa.RecordBatch) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as w:
        w.write_batch(batch)
    return sink.getvalue().to_pybytes()


def _batch(arrays: list[pa.Array], names: list[str], metas: list[dict[str, str]]) -> pa.RecordBatch:
    fields = [pa.field(n, a.type, metadata=m) for a, n, m in zip(arrays, names, metas)]
    return pa.record_batch(arrays, schema=pa.schema(fields))


def invalid_tensor_bytes() -> dict[str, bytes]:
    """Malformed tensor frames, each broken in one way (listed with expectations in tensors.json)."""
    good = encode_tensor(torch.arange(12, dtype=torch.float32).reshape(3, 4)).to_pybytes()
    f32 = pa.array(np.arange(8, dtype=np.float32))
    return {
        "truncated": good[: len(good) // 2],
        "not_arrow": b"this is not an Arrow IPC stream, just text" * 4,
        "unknown_dtype": _stream(_batch([f32], ["data"], [{"shape": "[8]", "dtype": "complex64"}])),
        "shape_mismatch": _stream(_batch([f32], ["data"], [{"shape": "[3,3]", "dtype": "float32"}])),
        "bad_shape_metadata": _stream(_batch([f32], ["data"], [{"shape": "[2,-4]", "dtype": "float32"}])),
        "wrong_arrow_type": _stream(_batch([pa.array(np.arange(8, dtype=np.int32))], ["data"], [{"shape": "[8]", "dtype": "float32"}])),
        "two_columns": _stream(_batch([f32, f32], ["data", "more"], [{"shape": "[8]", "dtype": "float32"}, {}])),
        "nulls": _stream(_batch([pa.array([1.0, None, 3.0], type=pa.float32())], ["data"], [{"shape": "[3]", "dtype": "float32"}])),
    }


def write_all() -> None:
    (TENSOR_DIR / "py").mkdir(parents=True, exist_ok=True)
    (TENSOR_DIR / "invalid").mkdir(parents=True, exist_ok=True)
    for case in load_tensor_cases():
        (TENSOR_DIR / "py" / f"{case['name']}.arrow").write_bytes(encode_tensor(case_tensor(case)).to_pybytes())
    for name, data in invalid_tensor_bytes().items():
        (TENSOR_DIR / "invalid" / f"{name}.arrow").write_bytes(data)


if __name__ == "__main__":
    write_all()
    print(f"wrote fixtures under {TENSOR_DIR}")
