"""shm frames: real files in a private directory, real mappings."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from linkedout.worker.codec import decode_tensor, encode_tensor, stream_writer, tensor_to_batch
from linkedout.protocol.op import OpError
from linkedout.worker.shm import MappingCache, PeerShm, check_dir, map_input, write_output


@pytest.fixture()
def peer() -> Iterator[PeerShm]:
    root = "/dev/shm" if os.path.isdir("/dev/shm") else None
    d = Path(tempfile.mkdtemp(prefix="lo-test-shm-", dir=root))
    yield PeerShm(d, 0)
    for f in d.iterdir():
        f.unlink()
    d.rmdir()


def test_check_dir_accepts_only_a_private_directory(peer: PeerShm) -> None:
    assert check_dir(str(peer.dir)) == peer.dir
    os.chmod(peer.dir, 0o750)
    with pytest.raises(OpError, match="mode 0700"):
        check_dir(str(peer.dir))
    os.chmod(peer.dir, 0o700)
    (peer.dir / "f").write_bytes(b"x")
    with pytest.raises(OpError, match="not a directory"):
        check_dir(str(peer.dir / "f"))
    with pytest.raises(OpError, match="ShmInvalid|No such file"):
        check_dir(str(peer.dir / "missing"))


def test_input_is_a_zero_copy_view_of_the_file(peer: PeerShm) -> None:
    x = torch.randn(64, 32)
    data = encode_tensor(x).to_pybytes()
    (peer.dir / "in.arrow").write_bytes(data + b"\0" * 100)  # a pooled file may be longer than the stream
    y = decode_tensor(map_input(peer, "in.arrow", len(data), "frame 'x'"))
    assert torch.equal(y, x)
    # the view sees later writes to the file: it is the file's memory, not a copy
    with open(peer.dir / "in.arrow", "r+b") as f:
        f.write(encode_tensor(x * 2).to_pybytes())
    assert torch.equal(y, x * 2)


def test_input_errors_name_the_frame(peer: PeerShm) -> None:
    with pytest.raises(OpError, match="frame 'x': shm file nope.arrow does not exist"):
        map_input(peer, "nope.arrow", 10, "frame 'x'")
    (peer.dir / "short.arrow").write_bytes(b"12345")
    with pytest.raises(OpError, match="frame 'x'.*5 bytes, header says 10"):
        map_input(peer, "short.arrow", 10, "frame 'x'")
    with pytest.raises(OpError, match="not a plain file name"):
        map_input(peer, "../../etc/passwd", 10, "frame 'x'")


def test_output_goes_into_an_offered_file_grown_as_needed(peer: PeerShm) -> None:
    (peer.dir / "offered.arrow").write_bytes(b"\xff" * 16)  # too small: must grow
    peer.offered = ["offered.arrow"]
    x = torch.arange(1000, dtype=torch.int64)
    write, nbytes = stream_writer(tensor_to_batch(x))
    assert write_output(peer, write, nbytes) == "offered.arrow"
    assert torch.equal(decode_tensor((peer.dir / "offered.arrow").read_bytes()[:nbytes]), x)
    # nothing offered any more: a new file
    name = write_output(peer, write, nbytes)
    assert name.startswith("r-") and name != "offered.arrow"
    assert torch.equal(decode_tensor((peer.dir / name).read_bytes()[:nbytes]), x)


def test_mapping_cache_reuses_and_notices_replaced_files(peer: PeerShm) -> None:
    cache = MappingCache(max_files=2)
    path = peer.dir / "a.arrow"
    path.write_bytes(b"a" * 4096)
    first = cache.get(path, 4096, grow=False)
    assert cache.get(path, 100, grow=False) is first  # same file, big enough: same mapping
    path.unlink()
    path.write_bytes(b"b" * 4096)  # a new inode under the same name
    second = cache.get(path, 4096, grow=False)
    assert second is not first and second[:1] == b"b"
    for name in ("b.arrow", "c.arrow"):
        (peer.dir / name).write_bytes(b"c" * 10)
        cache.get(peer.dir / name, 10, grow=False)
    assert cache.get(path, 4096, grow=False) is not second  # evicted (max 2), mapped again
