"""Reading an Arrow IPC file whole: the one helper for the stage files (ranks, epochs, gates, …)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from pyarrow import ipc


def read_arrow(path: str | Path) -> pa.Table:
    """An Arrow IPC file (or stream) as a table."""
    with pa.memory_map(str(path), "r") as source:
        try:
            return ipc.open_file(source).read_all()
        except pa.ArrowInvalid:
            source.seek(0)
            return ipc.open_stream(source).read_all()
