"""Shared-memory frames (docs/protocol.md, "shm frames"): large tensors as files in the client's
private /dev/shm directory instead of socket bytes.

Inputs are memory-mapped read-only (MAP_POPULATE: one syscall instead of a page fault per 4 KiB) and
decoded as views, so a handler's input tensor lives in the client's file. The client reuses that file
after the reply: handlers must clone an input they keep beyond the call. Results are written into a
file the client offered (`shm_out`), grown if needed, or a new one.
"""

from __future__ import annotations

import mmap
import os
import re
import stat
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from linkedout.protocol.op import OpError

_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
_POPULATE = getattr(mmap, "MAP_POPULATE", 0)


@dataclass
class PeerShm:
    """One client's shm directory and what it offered for results of the current request."""

    dir: Path
    min_bytes: int
    offered: list[str] = field(default_factory=list)


def check_dir(path: str) -> Path:
    """The directory if it is safe to use: a real directory, owned by us, not accessible to others."""
    p = Path(path)
    try:
        st = os.lstat(p)
    except OSError as exc:
        raise OpError("ShmInvalid", f"shm_dir {path}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise OpError("ShmInvalid", f"shm_dir {path}: not a directory")
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise OpError("ShmInvalid", f"shm_dir {path}: must be owned by this user with mode 0700")
    return p


def _file(peer: PeerShm, name: str) -> Path:
    if not _NAME.match(name):
        raise OpError("FramesInvalid", f"shm file name {name!r} is not a plain file name")
    return peer.dir / name


class MappingCache:
    """Open read-write mappings of recently used shm files, so reusing a file costs no page faults.

    Keyed by (name, inode): a file the client deleted and re-created is mapped afresh. At most
    `max_files` mappings stay open; an evicted one is unmapped once no tensor views it.
    """

    def __init__(self, max_files: int = 8) -> None:
        self.max_files = max_files
        self._maps: dict[str, tuple[int, mmap.mmap]] = {}

    def get(self, path: Path, nbytes: int, grow: bool) -> mmap.mmap:
        fd = os.open(path, os.O_RDWR | (os.O_CREAT if grow else 0), 0o600)
        try:
            st = os.fstat(fd)
            if st.st_size < nbytes:
                if not grow:
                    raise OpError("FramesInvalid", f"shm file {path.name} has {st.st_size} bytes, header says {nbytes} (truncated?)")
                os.ftruncate(fd, nbytes)
            size = max(st.st_size, nbytes)
            cached = self._maps.pop(path.name, None)
            if cached is not None and cached[0] == st.st_ino and len(cached[1]) >= nbytes:
                mm = cached[1]
            else:
                mm = mmap.mmap(fd, size, flags=mmap.MAP_SHARED | _POPULATE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)
        self._maps[path.name] = (st.st_ino, mm)  # most recent last
        while len(self._maps) > self.max_files:
            self._maps.pop(next(iter(self._maps)))
        return mm


_CACHE = MappingCache()


def map_input(peer: PeerShm, name: str, nbytes: int, what: str) -> pa.Buffer:
    """A zero-copy view of the first `nbytes` bytes of an shm file."""
    if nbytes == 0:
        return pa.py_buffer(b"")
    try:
        mm = _CACHE.get(_file(peer, name), nbytes, grow=False)
    except FileNotFoundError:
        raise OpError("FramesInvalid", f"{what}: shm file {name} does not exist") from None
    except OpError as exc:
        raise OpError(exc.type, f"{what}: {exc.message}") from None
    return pa.py_buffer(memoryview(mm)[:nbytes])  # the buffer keeps the mapping alive as long as any view of it


def write_output(peer: PeerShm, write: Any, nbytes: int) -> str:
    """Write an Arrow stream of `nbytes` bytes with `write(sink)` into an offered file (or a new one)."""
    name = peer.offered.pop(0) if peer.offered else f"r-{uuid.uuid4().hex}.arrow"
    mm = _CACHE.get(_file(peer, name), nbytes, grow=True)
    write(pa.FixedSizeBufferWriter(pa.py_buffer(memoryview(mm)[:nbytes])))
    return name
