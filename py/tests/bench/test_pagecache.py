"""bench/pagecache.py: a store's pages really leave the page cache, and the report says when they did not."""

from __future__ import annotations

import mmap
import os
import sys
from pathlib import Path

import pytest

from linkedout.bench.pagecache import drop_pages, resident_bytes

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="posix_fadvise / mincore semantics of Linux")


def _write(path: Path, mib: int) -> None:
    path.write_bytes(os.urandom(mib << 20))
    path.read_bytes()  # in the page cache now


def test_pages_are_dropped_and_counted(tmp_path: Path) -> None:
    files = [tmp_path / "a.arrow", tmp_path / "b.arrow"]
    for f in files:
        _write(f, 4)
    if sum(resident_bytes(f) for f in files) == 0:
        pytest.skip("this filesystem does not keep these pages in the page cache (tmpfs-like mincore)")
    report = drop_pages(files)
    assert report["ok"] and report["error"] is None and report["files"] == 2
    assert report["resident_mib_before"] == pytest.approx(8.0) and report["resident_mib_after"] == 0.0
    assert all(resident_bytes(f) == 0 for f in files)


def test_pages_a_process_has_mapped_stay_and_the_report_says_so(tmp_path: Path) -> None:
    path = tmp_path / "mapped.arrow"
    _write(path, 4)
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        touched = sum(m[i] for i in range(0, len(m), mmap.PAGESIZE))  # fault every page into this mapping
        report = drop_pages([path])
        assert touched >= 0
    if report["resident_mib_before"] == 0:
        pytest.skip("this filesystem does not keep these pages in the page cache")
    assert not report["ok"] and report["resident_mib_after"] > 0  # why bench gpu unmaps the store first
