"""Tensor codec against the shared vectors in schemas/fixtures (both sides decode each other's bytes)."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pytest
import torch

from linkedout.worker.codec import decode_table, decode_tensor, encode_table, encode_tensor
from linkedout.worker.fixtures import (
    TENSOR_DIR,
    case_tensor,
    invalid_tensor_bytes,
    load_invalid_tensor_cases,
    load_tensor_cases,
)
from linkedout.protocol.op import OpError

CASES = load_tensor_cases()


def _bits(t: torch.Tensor) -> list[int]:
    """Exact bit patterns (so -0.0 != 0.0 and bf16/f16 compare exactly)."""
    flat = t.reshape(-1).contiguous()
    if t.dtype == torch.bool:
        return flat.to(torch.uint8).tolist()
    if t.is_floating_point():
        return flat.view({2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()]).tolist()
    return flat.tolist()


@pytest.mark.parametrize("side", ["py", "ts"])
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_decodes_fixture_written_by_each_side(case: dict, side: str) -> None:
    t = decode_tensor((TENSOR_DIR / side / f"{case['name']}.arrow").read_bytes())
    want = case_tensor(case)
    assert t.dtype == want.dtype
    assert list(t.shape) == case["shape"]
    assert _bits(t) == _bits(want)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_encoder_still_writes_the_committed_bytes(case: dict) -> None:
    assert encode_tensor(case_tensor(case)).to_pybytes() == (TENSOR_DIR / "py" / f"{case['name']}.arrow").read_bytes()


def test_fixture_values_match_their_bit_patterns() -> None:
    """The decimal `values` in tensors.json agree with `bits` (guards hand edits of the fixture file)."""
    for case in CASES:
        t = case_tensor(case)
        if case["dtype"] in ("float16", "bfloat16"):
            assert t.float().reshape(-1).tolist() == pytest.approx([float(v) for v in case["values"]], rel=1e-3)


@pytest.mark.parametrize("invalid", load_invalid_tensor_cases(), ids=lambda c: c["name"])
def test_rejects_each_invalid_fixture_naming_the_problem(invalid: dict) -> None:
    data = (TENSOR_DIR / "invalid" / f"{invalid['name']}.arrow").read_bytes()
    with pytest.raises(OpError) as err:
        decode_tensor(data, what="frame 'x'")
    assert err.value.type == invalid["type"]
    assert "frame 'x'" in err.value.message
    assert re.search(invalid["mentions"], err.value.message), err.value.message


def test_invalid_fixture_files_are_current() -> None:
    for name, data in invalid_tensor_bytes().items():
        assert (TENSOR_DIR / "invalid" / f"{name}.arrow").read_bytes() == data, name


def test_decode_is_a_view_of_the_received_buffer() -> None:
    src = torch.arange(1 << 16, dtype=torch.float32).reshape(256, 256)
    buf = bytearray(encode_tensor(src).to_pybytes())  # writable, so we can poke it
    t = decode_tensor(memoryview(buf))
    assert torch.equal(t, src)
    start = np.frombuffer(buf, dtype=np.uint8).ctypes.data
    assert start <= t.data_ptr() < start + len(buf)  # no copy: the tensor lives inside the message
    # poke the last element's bytes in the message; the decoded tensor sees it
    off = t.data_ptr() - start + 4 * (t.numel() - 1)
    buf[off:off + 4] = np.float32(-7.0).tobytes()
    assert t[-1, -1].item() == -7.0


def test_bfloat16_and_bool_round_trip_through_torch() -> None:
    x = torch.tensor([[1.0, -2.0], [0.5, 3e38]], dtype=torch.bfloat16)
    y = decode_tensor(encode_tensor(x))
    assert y.dtype == torch.bfloat16 and torch.equal(y, x)
    b = torch.tensor([True, False, True])
    assert torch.equal(decode_tensor(encode_tensor(b)), b)


def test_non_contiguous_and_numpy_inputs() -> None:
    x = torch.arange(12, dtype=torch.int64).reshape(3, 4).t()  # non-contiguous view
    assert torch.equal(decode_tensor(encode_tensor(x)), x)
    a = np.arange(6, dtype=np.float16).reshape(2, 3)
    assert decode_tensor(encode_tensor(a)).numpy().tolist() == a.tolist()


def test_unsupported_dtype_is_a_clear_error() -> None:
    with pytest.raises(OpError, match="complex64"):
        encode_tensor(torch.zeros(2, dtype=torch.complex64))


def test_table_layout_round_trip() -> None:
    table = pa.table({"user": ["u1", "u2"], "rank": pa.array([3, 1], type=pa.int32())})
    assert decode_table(encode_table(table).to_pybytes()).equals(table)
    with pytest.raises(OpError) as err:
        decode_table(b"nope", "frame 'ranks'")
    assert err.value.type == "TableInvalid" and "frame 'ranks'" in err.value.message
