"""Drop files' pages from the page cache, and say whether it worked (Linux).

`os.posix_fadvise(POSIX_FADV_DONTNEED)` is advice: the kernel drops only clean pages that no process
has mapped. So each file is fsync'ed first (a store just written is dirty), the caller unmaps it first
(a TokenStore reader maps its shards), and `mincore(2)` counts the pages still resident afterwards.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
from pathlib import Path
from typing import Any, Sequence

OK_RESIDENT_SHARE = 0.02  # metadata pages a fresh reader has touched may stay


def _libc() -> Any:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    return libc


def resident_bytes(path: Path) -> int:
    """Bytes of `path` in the page cache (mincore over a fresh read-only mapping)."""
    size = path.stat().st_size
    if size == 0:
        return 0
    libc, page = _libc(), mmap.PAGESIZE
    fd = os.open(path, os.O_RDONLY)
    try:
        addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), f"mmap {path}")
        try:
            pages = (size + page - 1) // page
            vec = (ctypes.c_ubyte * pages)()
            if libc.mincore(ctypes.c_void_p(addr), size, vec) != 0:
                raise OSError(ctypes.get_errno(), f"mincore {path}")
            return sum(b & 1 for b in vec) * page
        finally:
            libc.munmap(ctypes.c_void_p(addr), size)
    finally:
        os.close(fd)


def drop_pages(paths: Sequence[Path]) -> dict[str, Any]:
    """fsync + POSIX_FADV_DONTNEED on every file; `ok` when < 2 % of their bytes stay resident."""
    total = sum(p.stat().st_size for p in paths)
    result: dict[str, Any] = {"ok": False, "files": len(paths), "mib": total / 2**20, "resident_mib_before": None,
                              "resident_mib_after": None, "error": None}
    if not hasattr(os, "posix_fadvise"):
        result["error"] = "os.posix_fadvise is not available on this platform"
        return result
    try:
        result["resident_mib_before"] = sum(resident_bytes(p) for p in paths) / 2**20
        for p in paths:
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
        after = sum(resident_bytes(p) for p in paths)
    except OSError as err:
        result["error"] = f"{type(err).__name__}: {err}"
        return result
    result["resident_mib_after"] = after / 2**20
    result["ok"] = after <= OK_RESIDENT_SHARE * total
    return result
