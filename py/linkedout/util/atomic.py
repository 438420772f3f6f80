"""Files that are never seen half-written: write under a temporary name beside the target, then rename.

The one atomic-write helper of the Python side (TypeScript's is ``ts/util/fs.ts``). Temporary names are
unique per writer — process id, thread id and a random token — because the process id alone is not:
every Kubernetes pod's Python is PID 1, and pods share volumes (a store written by four pods at once
must not have one pod rename or delete another's temporary file).
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator


def temp_path(path: Path, suffix: str = ".tmp") -> Path:
    """A temporary name beside ``path`` (same filesystem, so a rename is atomic), unique to this writer.

    ``suffix`` ends the name, for writers that pick a format from the extension (``.tmp.png``)."""
    return path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}-{secrets.token_hex(4)}{suffix}")


@contextmanager
def temp_beside(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary name beside ``path``; whatever is left under it is removed on exit (error or not)."""
    tmp = temp_path(path, suffix)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def write_atomic(path: Path, write: Callable[[Path], object], *, fsync: bool = False, suffix: str = ".tmp") -> None:
    """Replace ``path`` with what ``write(tmp)`` writes: readers see the old file or the new one, never a part.
    ``fsync`` flushes the bytes to disk before the rename (for files a crash must not leave empty)."""
    with temp_beside(path, suffix) as tmp:
        write(tmp)
        if fsync:
            _fsync(tmp)
        os.replace(tmp, path)


def create_atomic(path: Path, write: Callable[[Path], object]) -> bool:
    """Create ``path`` from what ``write(tmp)`` writes unless it exists (a hard link never replaces a
    file): of concurrent creators exactly one wins. True if this call created it."""
    with temp_beside(path) as tmp:
        write(tmp)
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False


def write_text_atomic(path: Path, text: str) -> None:
    """``write_atomic`` of a text file."""
    write_atomic(path, lambda tmp: tmp.write_text(text))


def write_json_atomic(path: Path, obj: Any) -> None:
    """``obj`` as indented JSON (keys in their order) plus a newline, written atomically."""
    write_text_atomic(path, json.dumps(obj, indent=2) + "\n")
