"""Built-in ops: the handshake, liveness, diagnostics and shutdown.

`echo` and `matmul` exist for tests and the transport benchmark: `echo` exercises frames, progress and
the error path; `matmul` exercises per-op dtype/shape checks on input tensors.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import torch

from linkedout.protocol.op import FrameValue, OpContext, OpError, OpResult, OutFrame
from .protocol import PROTOCOL_VERSION

_VERSIONED_PACKAGES = ("torch", "transformers", "pyarrow", "pyzmq", "numpy", "av", "jsonschema", "lancedb")


def package_versions() -> dict[str, str]:
    """Versions of the worker's packages; "missing" for any not installed."""
    out = {"python": platform.python_version()}
    for name in _VERSIONED_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "missing"
    return out


def hello(args: dict[str, Any], frames: dict[str, FrameValue], ctx: OpContext) -> OpResult:
    """Handshake: refuse an unknown protocol, else describe this worker."""
    if args["protocol"] != PROTOCOL_VERSION:
        raise OpError("ProtocolVersion",
                      f"caller speaks protocol {args['protocol']}, this worker speaks {PROTOCOL_VERSION}")
    cuda = torch.cuda.is_available()
    return OpResult({
        "protocol": PROTOCOL_VERSION,
        "pid": os.getpid(),
        "device": str(ctx.device),
        "threads": torch.get_num_threads(),
        "cuda_available": cuda,
        "cuda_device_count": torch.cuda.device_count() if cuda else 0,
        "executable": sys.executable,
        "versions": package_versions(),
    })


def ping(args: dict[str, Any], frames: dict[str, FrameValue], ctx: OpContext) -> OpResult:
    return OpResult({"pong": True, "t": time.time()})


def echo(args: dict[str, Any], frames: dict[str, FrameValue], ctx: OpContext) -> OpResult:
    """Return the frames and `value` unchanged, optionally after a delay with progress."""
    steps = int(args.get("progress_steps", 0))
    delay = float(args.get("delay_s", 0.0))
    if steps:
        for i in range(steps):
            time.sleep(delay / steps)
            ctx.progress(i + 1, steps, "steps", f"step {i + 1}/{steps}")
    elif delay:
        time.sleep(delay)
    if "raise_error" in args:
        raise RuntimeError(args["raise_error"])
    result: dict[str, Any] = {"frames": [
        {"name": n, "dtype": str(f.dtype).removeprefix("torch."), "shape": list(f.shape)} if isinstance(f, torch.Tensor)
        else {"name": n, "rows": f.num_rows, "columns": f.column_names}
        for n, f in frames.items()
    ]}
    if "value" in args:
        result["value"] = args["value"]
    return OpResult(result, [OutFrame(n, f) for n, f in frames.items()])


def matmul(args: dict[str, Any], frames: dict[str, FrameValue], ctx: OpContext) -> OpResult:
    """c = a @ b in float32. Input dtypes/ranks are checked by the registry's TensorSpecs."""
    a, b = frames["a"], frames["b"]
    assert isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)
    if a.shape[1] != b.shape[0]:
        raise OpError("FrameInvalid", f"frames a {list(a.shape)} and b {list(b.shape)}: inner sizes differ ({a.shape[1]} != {b.shape[0]})")
    c = a.to(ctx.device, torch.float32) @ b.to(ctx.device, torch.float32)  # [n, m]
    return OpResult({"shape": list(c.shape)}, [OutFrame("c", c)])


def shutdown(args: dict[str, Any], frames: dict[str, FrameValue], ctx: OpContext) -> OpResult:
    """Acknowledge; the server stops after sending this reply (it checks the op name)."""
    return OpResult({"stopping": True, "pid": os.getpid()})
