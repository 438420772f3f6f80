"""Tensor codec: torch/numpy tensors <-> Arrow IPC stream bytes (the "tensor" layout).

Layout (docs/protocol.md, schemas/protocol/README.md): one Arrow IPC *stream* holding one record batch
with one non-null column `data`, a flat primitive array of the element type, whose field metadata
carries `shape` (JSON list) and `dtype` (our name). bfloat16 travels as uint16 bits, bool as uint8.

Decoding never copies: the numpy array views the Arrow buffer, which views the received ZeroMQ
frame; the torch tensor views the numpy array. Encoding copies once (into the IPC stream buffer).
"""

from __future__ import annotations

import json
import warnings
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import torch

from linkedout.protocol.op import OpError

# our dtype name -> (Arrow type on the wire, numpy dtype on the wire, torch dtype)
DTYPES: dict[str, tuple[pa.DataType, np.dtype[Any], torch.dtype]] = {
    "float16": (pa.float16(), np.dtype(np.float16), torch.float16),
    "bfloat16": (pa.uint16(), np.dtype(np.uint16), torch.bfloat16),
    "float32": (pa.float32(), np.dtype(np.float32), torch.float32),
    "float64": (pa.float64(), np.dtype(np.float64), torch.float64),
    "int8": (pa.int8(), np.dtype(np.int8), torch.int8),
    "int16": (pa.int16(), np.dtype(np.int16), torch.int16),
    "int32": (pa.int32(), np.dtype(np.int32), torch.int32),
    "int64": (pa.int64(), np.dtype(np.int64), torch.int64),
    "uint8": (pa.uint8(), np.dtype(np.uint8), torch.uint8),
    "bool": (pa.uint8(), np.dtype(np.uint8), torch.bool),
}
_TORCH_TO_NAME = {t: name for name, (_, _, t) in DTYPES.items()}
_NUMPY_TO_NAME = {np.dtype(np.float16): "float16", np.dtype(np.float32): "float32",
                  np.dtype(np.float64): "float64", np.dtype(np.int8): "int8", np.dtype(np.int16): "int16",
                  np.dtype(np.int32): "int32", np.dtype(np.int64): "int64", np.dtype(np.uint8): "uint8",
                  np.dtype(np.bool_): "bool"}


def _wire_array(value: torch.Tensor | np.ndarray) -> tuple[str, list[int], np.ndarray]:
    """(dtype name, shape, flat contiguous numpy array of the wire type) without copying if possible."""
    if isinstance(value, torch.Tensor):
        t = value.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        t = t.contiguous()
        name = _TORCH_TO_NAME.get(t.dtype)
        if name is None:
            raise OpError("TensorInvalid", f"unsupported torch dtype {t.dtype} (supported: {', '.join(DTYPES)})")
        shape = list(t.shape)
        if name == "bfloat16":
            flat = t.reshape(-1).view(torch.int16).numpy().view(np.uint16)
        elif name == "bool":
            flat = t.reshape(-1).view(torch.uint8).numpy()
        else:
            flat = t.reshape(-1).numpy()
        return name, shape, flat
    arr = np.ascontiguousarray(value)
    name = _NUMPY_TO_NAME.get(arr.dtype)
    if name is None:
        raise OpError("TensorInvalid", f"unsupported numpy dtype {arr.dtype} (supported: {', '.join(_NUMPY_TO_NAME.values())})")
    flat = arr.reshape(-1)
    if name == "bool":
        flat = flat.view(np.uint8)
    return name, list(arr.shape), flat


def tensor_to_batch(value: torch.Tensor | np.ndarray) -> pa.RecordBatch:
    """The tensor as a one-column record batch (views the tensor's memory)."""
    name, shape, flat = _wire_array(value)
    arrow_type = DTYPES[name][0]
    array = pa.Array.from_buffers(arrow_type, len(flat), [None, pa.py_buffer(flat)])
    field = pa.field("data", arrow_type, nullable=False,
                     metadata={"shape": json.dumps(shape, separators=(",", ":")), "dtype": name})
    return pa.record_batch([array], schema=pa.schema([field]))


def stream_writer(batch_or_table: pa.RecordBatch | pa.Table) -> tuple[Callable[[Any], None], int]:
    """(write(sink), exact byte size) of the Arrow IPC stream, so callers can pre-size the destination."""
    def write(sink: Any) -> None:
        with pa.ipc.new_stream(sink, batch_or_table.schema) as writer:
            if isinstance(batch_or_table, pa.RecordBatch):
                writer.write_batch(batch_or_table)
            else:
                writer.write_table(batch_or_table)

    mock = pa.MockOutputStream()
    write(mock)
    return write, mock.size()


def _write_stream(batch_or_table: pa.RecordBatch | pa.Table) -> pa.Buffer:
    """Serialise to an Arrow IPC stream in one exactly-sized buffer (one copy, no regrowth)."""
    write, size = stream_writer(batch_or_table)
    buf = pa.allocate_buffer(size)
    write(pa.FixedSizeBufferWriter(buf))
    return buf


def encode_tensor(value: torch.Tensor | np.ndarray) -> pa.Buffer:
    """Tensor -> Arrow IPC stream bytes (tensor layout)."""
    return _write_stream(tensor_to_batch(value))


def encode_table(table: pa.Table) -> pa.Buffer:
    """Arrow table -> Arrow IPC stream bytes (table layout)."""
    return _write_stream(table)


def _open_single_batch(buf: Any, what: str) -> pa.RecordBatch:
    try:
        reader = pa.ipc.open_stream(pa.py_buffer(buf))
        batches = list(reader)
    except (pa.ArrowInvalid, pa.ArrowException, OSError, ValueError) as exc:
        raise OpError("TensorInvalid", f"{what}: not a readable Arrow IPC stream ({exc})") from None
    if len(batches) != 1:
        raise OpError("TensorInvalid", f"{what}: expected exactly one record batch, got {len(batches)}")
    return batches[0]


def decode_tensor(buf: Any, what: str = "frame") -> torch.Tensor:
    """Arrow IPC stream bytes (tensor layout) -> a read-only torch tensor viewing `buf`.

    Raises OpError("TensorInvalid", ...) naming `what` and the problem.
    """
    batch = _open_single_batch(buf, what)
    schema = batch.schema
    if schema.names != ["data"]:
        raise OpError("TensorInvalid", f"{what}: expected one column named 'data', got {schema.names}")
    field = schema.field(0)
    meta = {k.decode(): v.decode() for k, v in (field.metadata or {}).items()}
    name = meta.get("dtype")
    if name not in DTYPES:
        raise OpError("TensorInvalid", f"{what}: field metadata dtype {name!r} is not one of {', '.join(DTYPES)}")
    arrow_type, np_type, torch_type = DTYPES[name]
    if field.type != arrow_type:
        raise OpError("TensorInvalid", f"{what}: dtype {name} must travel as Arrow {arrow_type}, got {field.type}")
    try:
        shape = json.loads(meta.get("shape", ""))
    except json.JSONDecodeError:
        shape = None
    if not isinstance(shape, list) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
        raise OpError("TensorInvalid", f"{what}: field metadata shape {meta.get('shape')!r} is not a JSON list of sizes")
    column = batch.column(0)
    expected = int(np.prod(shape)) if shape else 1
    if len(column) != expected:
        raise OpError("TensorInvalid", f"{what}: shape {shape} needs {expected} elements, column has {len(column)}")
    if column.null_count:
        raise OpError("TensorInvalid", f"{what}: tensor column has {column.null_count} nulls")
    flat = column.to_numpy(zero_copy_only=True)
    assert flat.dtype == np_type
    with warnings.catch_warnings():
        # The view is read-only (it aliases the received message); torch warns about that once.
        warnings.simplefilter("ignore", UserWarning)
        t = torch.from_numpy(flat)
    if name == "bfloat16":
        t = t.view(torch.bfloat16)
    elif name == "bool":
        t = t.view(torch.bool)
    return t.reshape(shape)


def decode_table(buf: Any, what: str = "frame") -> pa.Table:
    """Arrow IPC stream bytes (table layout) -> pa.Table (views `buf`)."""
    try:
        return pa.ipc.open_stream(pa.py_buffer(buf)).read_all()
    except (pa.ArrowInvalid, pa.ArrowException, OSError, ValueError) as exc:
        raise OpError("TableInvalid", f"{what}: not a readable Arrow IPC stream ({exc})") from None


def dtype_name(t: torch.Tensor) -> str:
    """Our wire dtype name of a torch tensor."""
    name = _TORCH_TO_NAME.get(t.dtype)
    if name is None:
        raise OpError("TensorInvalid", f"unsupported torch dtype {t.dtype}")
    return name
