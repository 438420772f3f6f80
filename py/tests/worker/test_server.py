"""The worker process end to end: a real `python -m linkedout.worker`, a raw ZeroMQ DEALER, real Arrow bytes.

Drives every bad-request case of schemas/fixtures/requests.json and checks that the worker names the
problem and keeps serving.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import zmq

from linkedout.worker.codec import decode_tensor, encode_tensor
from linkedout.worker.fixtures import TENSOR_DIR, load_json
from linkedout.worker.server import READY_PREFIX

REQUESTS = load_json("requests.json")
REPO = Path(__file__).resolve().parents[3]


class RawWorker:
    def __init__(self, max_message_bytes: int, heartbeat_s: float = 0.2) -> None:
        self.dir = tempfile.mkdtemp(prefix="lo-pytest-")
        env = {**os.environ, "PYTHONPATH": str(REPO / "py"), "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "linkedout.worker", "--bind", f"ipc://{self.dir}/w.sock", "--threads", "1",
             "--heartbeat-s", str(heartbeat_s), "--max-message-bytes", str(max_message_bytes)],
            stdout=subprocess.PIPE, text=True, env=env)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith(READY_PREFIX), line
        self.ready = json.loads(line[len(READY_PREFIX):])
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(self.ready["endpoint"])

    def send(self, parts: list[bytes]) -> None:
        self.sock.send_multipart(parts)

    def reply(self, timeout_s: float = 10.0) -> tuple[dict, list[bytes]]:
        """Next non-heartbeat, non-progress message."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            assert left > 0, "no reply from the worker"
            if not self.sock.poll(int(left * 1000)):
                continue
            header, *frames = self.sock.recv_multipart()
            parsed = json.loads(header)
            if parsed["kind"] not in ("heartbeat", "progress"):
                return parsed, frames

    def close(self) -> None:
        self.sock.close()
        self.ctx.term()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def worker() -> Iterator[RawWorker]:
    w = RawWorker(REQUESTS["max_message_bytes"])
    yield w
    w.close()


def _header(id: str, op: str, args: dict | None = None, frames: list | None = None) -> bytes:
    return json.dumps({"v": 1, "id": id, "op": op, "args": args or {}, "frames": frames or []}).encode()


def test_handshake_and_echo_round_trip(worker: RawWorker) -> None:
    worker.send([_header("h", "hello", {"protocol": 1})])
    header, _ = worker.reply()
    assert header["kind"] == "result" and header["result"]["protocol"] == 1
    assert header["result"]["pid"] == worker.proc.pid
    x = torch.randn(3, 5, dtype=torch.float32)
    worker.send([_header("e", "echo", {"value": "hi"}, [{"name": "x", "layout": "tensor"}]), encode_tensor(x).to_pybytes()])
    header, frames = worker.reply()
    assert header["id"] == "e" and header["result"]["value"] == "hi"
    assert header["frames"][0]["name"] == "x" and header["frames"][0]["bytes"] == len(frames[0])
    assert torch.equal(decode_tensor(frames[0]), x)


@pytest.mark.parametrize("case", REQUESTS["cases"], ids=lambda c: c["name"])
def test_bad_request_gets_a_named_error_and_worker_keeps_serving(worker: RawWorker, case: dict) -> None:
    head = case["header_text"].encode() if "header_text" in case else json.dumps(case["header"]).encode()
    if "fill_bytes" in case:
        frames = [bytes(case["fill_bytes"])]
    elif "send_empty" in case:
        frames = [b""] * case["send_empty"]
    else:
        frames = [(TENSOR_DIR / f).read_bytes() for f in case["send"]]
    worker.send([head, *frames])
    header, _ = worker.reply()
    assert header["kind"] == "error"
    assert header["id"] == case["id"]
    assert header["error"]["type"] == case["type"], header
    assert re.search(case["mentions"], header["error"]["message"]), header["error"]["message"]
    if case.get("traceback"):
        assert "Traceback" in header["error"]["traceback"] and case["mentions"] in header["error"]["traceback"]
    # ...and the next request is served
    worker.send([_header("after", "echo", {"value": case["name"]})])
    header, _ = worker.reply()
    assert header["kind"] == "result" and header["result"]["value"] == case["name"]


def test_progress_and_heartbeats_flow_while_an_op_runs(worker: RawWorker) -> None:
    worker.send([_header("slow", "echo", {"delay_s": 0.8, "progress_steps": 4})])
    kinds, progress = [], []
    while True:
        header, *_ = worker.sock.recv_multipart()
        msg = json.loads(header)
        kinds.append(msg["kind"])
        if msg["kind"] == "heartbeat" and msg["busy"] == "slow" and "ping" not in [k for k in kinds[:-1]]:
            worker.send([_header("p", "ping")])  # answered on the socket thread while echo runs
            kinds.append("ping")
        if msg["kind"] == "progress":
            progress.append(msg["progress"]["done"])
        if msg["kind"] == "result" and msg["id"] == "p":
            kinds.append("pong")
        if msg["kind"] == "result" and msg["id"] == "slow":
            break
    assert "heartbeat" in kinds and progress[-1] == 4
    assert "pong" in kinds and kinds.index("pong") < len(kinds) - 1  # pong came before echo finished


def test_matmul_computes(worker: RawWorker) -> None:
    a, b = torch.randn(4, 3), torch.randn(3, 2, dtype=torch.float64)
    frames = [{"name": "a", "layout": "tensor"}, {"name": "b", "layout": "tensor"}]
    worker.send([_header("mm", "matmul", {}, frames), encode_tensor(a).to_pybytes(), encode_tensor(b).to_pybytes()])
    header, out = worker.reply()
    assert header["kind"] == "result"
    torch.testing.assert_close(decode_tensor(out[0]), a @ b.float())


def test_shutdown_replies_then_exits_zero() -> None:
    w = RawWorker(1 << 20)
    try:
        w.send([_header("bye", "shutdown")])
        header, _ = w.reply()
        assert header["kind"] == "result" and header["result"]["stopping"] is True
        assert w.proc.wait(timeout=10) == 0
    finally:
        w.close()


def test_refuses_to_bind_a_public_address() -> None:
    r = subprocess.run([sys.executable, "-m", "linkedout.worker", "--bind", "tcp://0.0.0.0:5555"],
                       capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "py")})
    assert r.returncode == 2 and "only ipc:// or tcp://127.0.0.1" in r.stderr


def test_exits_when_its_parent_dies_and_removes_its_clients_shm_dirs() -> None:
    """A worker orphaned by a SIGKILLed orchestrator does not linger, nor do the shm files it was lent."""
    script = (
        "import subprocess, sys, time\n"
        "p = subprocess.Popen([sys.executable, '-m', 'linkedout.worker', '--heartbeat-s', '0.1'], stdout=subprocess.PIPE, text=True)\n"
        "print(p.pid, flush=True); print(p.stdout.readline(), end='', flush=True); time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO / "py")})
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    ready = parent.stdout.readline()
    assert ready.startswith(READY_PREFIX), ready  # the child imported torch and bound
    shm_dir = Path(tempfile.mkdtemp(prefix="lo-shm-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    (shm_dir / "s-1.arrow").write_bytes(b"x" * 1000)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(json.loads(ready[len(READY_PREFIX):])["endpoint"])
    try:
        sock.send_multipart([_header("h", "hello", {"protocol": 1, "shm_dir": str(shm_dir)})])
        while json.loads(sock.recv_multipart()[0])["kind"] != "result":
            pass
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.kill(child_pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(child_pid, signal.SIGKILL)
            pytest.fail("worker outlived its parent by 15 s")
        assert not shm_dir.exists()
    finally:
        sock.close()
        ctx.term()
        shutil.rmtree(shm_dir, ignore_errors=True)
