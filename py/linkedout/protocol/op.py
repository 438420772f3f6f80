"""The op API: what a worker op handler receives and returns.

An op is a typed entry in the explicit table `linkedout.worker.registry.OPS` (never looked up by
attribute name). A handler has the signature

    def my_op(args: dict[str, Any], frames: dict[str, torch.Tensor | pa.Table], ctx: OpContext) -> OpResult

`args` have already been validated against `schemas/protocol/ops/<op>.args.schema.json`
(``linkedout.protocol.op_args.<Op>Args.from_json(args, "args")`` types them, defaults filled); tensor frames
are read-only views of the received bytes: `.clone()` one before modifying it in place or keeping it
beyond the call (large frames live in a shared-memory file the client reuses after the reply).
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Protocol

import numpy as np
import pyarrow as pa
import torch

FrameValue = torch.Tensor | pa.Table
"""A decoded wire frame: a tensor (layout "tensor") or an Arrow table (layout "table")."""


@dataclass
class OutFrame:
    """One result frame: a tensor/ndarray (sent with the tensor layout) or an Arrow table."""

    name: str
    value: torch.Tensor | np.ndarray | pa.Table


@dataclass
class OpResult:
    """What a handler returns: a JSON-serialisable result and zero or more frames."""

    result: dict[str, Any]
    frames: list[OutFrame] = field(default_factory=list)


class OpError(Exception):
    """A failure the caller should see as a clear error (no traceback needed).

    `type` becomes `error.type` in the reply (e.g. "FrameInvalid", "NotFound").
    """

    def __init__(self, type: str, message: str) -> None:
        super().__init__(message)
        self.type = type
        self.message = message


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the body with `threads` torch intra-op threads (None: as the worker started), then restore.

    A stage that runs on one worker while the others idle passes the run's cores (args.threads), so
    one worker started with 1 thread can use them all for that call (docs/running.md, "Cores")."""
    before = torch.get_num_threads()
    if threads is not None and threads != before:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


class _ProgressSink(Protocol):
    def __call__(self, progress: dict[str, Any]) -> None: ...


class OpContext:
    """Per-call context: the worker's device, a state dict that persists across calls, progress."""

    def __init__(
        self,
        device: torch.device,
        state: dict[str, Any],
        progress_sink: _ProgressSink | None = None,
        min_progress_interval_s: float = 0.05,
    ) -> None:
        self.device = device
        self.state = state  # persists for the worker process's lifetime: cache loaded models here
        self._sink = progress_sink
        self._min_interval = min_progress_interval_s
        self._last_sent = 0.0
        self._lock = threading.Lock()

    def progress(self, done: int, total: int | None, unit: str = "items", message: str = "") -> None:
        """Stream a progress message to the caller (throttled to ~20/s; the final one always goes)."""
        if self._sink is None:
            return
        now = time.monotonic()
        with self._lock:
            final = total is not None and done >= total
            if not final and now - self._last_sent < self._min_interval:
                return
            self._last_sent = now
        self._sink({"done": int(done), "total": None if total is None else int(total), "unit": unit, "message": message})


@dataclass(frozen=True)
class TensorSpec:
    """What an op expects of one input tensor frame. `shape` entries of None match any size."""

    dtypes: frozenset[str] | None = None
    shape: tuple[int | None, ...] | None = None
    required: bool = True


Handler = Callable[[dict[str, Any], dict[str, FrameValue], OpContext], OpResult]


@dataclass(frozen=True)
class Op:
    """One registry entry.

    handler      the function that does the work (its args: `schemas/protocol/ops/<op name>.args.schema.json`)
    frames       expected input tensor frames (name -> spec); None = any frames accepted
    inline       run on the socket thread (only for tiny control ops: hello, ping, shutdown)
    progress     whether the op streams progress messages (documentation for callers)
    """

    handler: Handler
    frames: dict[str, TensorSpec] | None = None
    inline: bool = False
    progress: bool = False
