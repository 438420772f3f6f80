"""Remote workers: a real `python -m linkedout.worker --keys DIR` CURVE server on 127.0.0.1, real pyzmq clients.

Keys are made by pyzmq's own `zmq.auth.create_certificates` (the format `lo-exp worker keygen` writes;
the TS tests cover that direction). Only loopback addresses are ever bound.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import zmq
import zmq.auth
from zmq.utils.monitor import recv_monitor_message

from linkedout.worker.__main__ import main as worker_main
from linkedout.worker.codec import decode_tensor, encode_tensor
from linkedout.worker.curve import KeysError, load_server_keys
from linkedout.worker.server import READY_PREFIX

REPO = Path(__file__).resolve().parents[3]


def make_keys(root: Path) -> tuple[Path, Path]:
    """A server key dir with one authorised client; returns (server dir, client secret file)."""
    server = root / "server"
    (server / "clients").mkdir(parents=True)
    zmq.auth.create_certificates(server, "server")
    os.chmod(server / "server.key_secret", 0o600)
    client_dir = root / "client"
    client_dir.mkdir()
    pub, secret = zmq.auth.create_certificates(client_dir, "client")
    shutil.copy(pub, server / "clients" / "client.key")
    return server, Path(secret)


class CurveWorker:
    def __init__(self, root: Path) -> None:
        self.keys_dir, self.client_secret = make_keys(root)
        env = {**os.environ, "PYTHONPATH": str(REPO / "py"), "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "linkedout.worker", "--bind", "tcp://127.0.0.1:*", "--keys", str(self.keys_dir),
             "--threads", "1", "--heartbeat-s", "0.2"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith(READY_PREFIX), line + (self.proc.stderr.read() if self.proc.stderr else "")
        self.ready = json.loads(line[len(READY_PREFIX):])
        self.endpoint: str = self.ready["endpoint"]
        self.ctx = zmq.Context()

    def dealer(self, public: bytes | None, secret: bytes | None) -> tuple[zmq.Socket, zmq.Socket]:
        """A DEALER (CURVE client if keys are given) connected to the worker, and its monitor socket."""
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        if public is not None:
            sock.curve_publickey = public
            sock.curve_secretkey = secret
            sock.curve_serverkey = self.ready["curve"]["server_public_key"].encode()
        monitor = sock.get_monitor_socket(addr=f"inproc://monitor-{uuid.uuid4().hex}")
        sock.connect(self.endpoint)
        return sock, monitor

    def stderr_so_far(self) -> str:
        """What the worker printed on stderr until now (without blocking)."""
        assert self.proc.stderr is not None
        fd = self.proc.stderr.fileno()
        os.set_blocking(fd, False)
        chunks = []
        while True:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        self.stderr_text = getattr(self, "stderr_text", "") + b"".join(chunks).decode()
        return self.stderr_text

    def close(self) -> str:
        self.ctx.destroy(linger=0)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        return self.stderr_so_far()


def hello_parts() -> list[bytes]:
    return [json.dumps({"v": 1, "id": "h1", "op": "hello", "args": {"protocol": 1}, "frames": []}).encode()]


def next_reply(sock: zmq.Socket, timeout_s: float) -> tuple[dict, list[bytes]] | None:
    """The next non-heartbeat message, or None if nothing arrives in time."""
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        if not sock.poll(int(left * 1000)):
            return None
        header, *frames = sock.recv_multipart()
        parsed = json.loads(header)
        if parsed["kind"] != "heartbeat":
            return parsed, frames
    return None


def monitor_events(monitor: zmq.Socket, until: int, timeout_s: float) -> list[int]:
    """Monitor events up to and including `until` (or all within the timeout)."""
    events: list[int] = []
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        if monitor.poll(int(left * 1000)):
            events.append(recv_monitor_message(monitor)["event"])
            if events[-1] == until:
                break
    return events


@pytest.fixture(scope="module")
def worker() -> Iterator[CurveWorker]:
    root = Path(tempfile.mkdtemp(prefix="lo-curve-"))
    w = CurveWorker(root)
    yield w
    w.close()
    shutil.rmtree(root, ignore_errors=True)


def test_ready_line_names_endpoint_and_server_key(worker: CurveWorker) -> None:
    assert worker.endpoint.startswith("tcp://127.0.0.1:") and not worker.endpoint.endswith(":*")
    public, _ = zmq.auth.load_certificate(worker.keys_dir / "server.key")
    assert worker.ready["curve"] == {"server_public_key": public.decode(), "clients": 1}


def test_authorised_client_round_trips_a_tensor(worker: CurveWorker) -> None:
    public, secret = zmq.auth.load_certificate(worker.client_secret)
    sock, monitor = worker.dealer(public, secret)
    sock.send_multipart(hello_parts())
    got = next_reply(sock, 10.0)
    assert got is not None, "an authorised client got no hello reply"
    assert got[0]["kind"] == "result" and got[0]["result"]["pid"] == worker.proc.pid
    assert zmq.EVENT_HANDSHAKE_SUCCEEDED in monitor_events(monitor, zmq.EVENT_HANDSHAKE_SUCCEEDED, 2.0)

    x = torch.arange(12, dtype=torch.float32).reshape(3, 4) * 0.25 - 1.0
    data = encode_tensor(x)
    header = {"v": 1, "id": "e1", "op": "echo", "args": {"value": "over curve"},
              "frames": [{"name": "x", "layout": "tensor", "bytes": len(data)}]}
    sock.send_multipart([json.dumps(header).encode(), data])
    got = next_reply(sock, 10.0)
    assert got is not None
    reply, frames = got
    assert reply["kind"] == "result" and reply["result"]["value"] == "over curve"
    back = decode_tensor(frames[0], "echo x")
    assert back.shape == (3, 4) and torch.equal(back, x)
    # heartbeats (every 0.2 s) reach an authenticated peer
    deadline = time.monotonic() + 3.0
    kinds = []
    while "heartbeat" not in kinds and time.monotonic() < deadline:
        if sock.poll(200):
            kinds.append(json.loads(sock.recv_multipart()[0])["kind"])
    assert "heartbeat" in kinds
    monitor.close()
    sock.close()


def test_unknown_client_key_is_refused_at_the_handshake(worker: CurveWorker) -> None:
    public, secret = zmq.curve_keypair()
    sock, monitor = worker.dealer(public, secret)
    sock.send_multipart(hello_parts())
    events = monitor_events(monitor, zmq.EVENT_HANDSHAKE_FAILED_AUTH, 5.0)
    assert zmq.EVENT_HANDSHAKE_FAILED_AUTH in events, events
    assert zmq.EVENT_HANDSHAKE_SUCCEEDED not in events
    assert next_reply(sock, 0.5) is None  # the request never reached the worker
    monitor.close()
    sock.close()


def test_plain_client_is_refused(worker: CurveWorker) -> None:
    sock, monitor = worker.dealer(None, None)
    sock.send_multipart(hello_parts())
    events = monitor_events(monitor, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL, 5.0)
    assert zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL in events, events  # NULL mechanism against a CURVE server
    assert next_reply(sock, 0.5) is None
    monitor.close()
    sock.close()


def test_worker_still_serves_after_refusals_and_logs_the_refused_key(worker: CurveWorker) -> None:
    refused_public, refused_secret = zmq.curve_keypair()
    for _ in range(2):  # a second attempt with the same key is not logged again
        sock, monitor = worker.dealer(refused_public, refused_secret)
        assert zmq.EVENT_HANDSHAKE_FAILED_AUTH in monitor_events(monitor, zmq.EVENT_HANDSHAKE_FAILED_AUTH, 5.0)
        monitor.close()
        sock.close()
    log = worker.stderr_so_far()
    line = f"linkedout worker: refused client key {refused_public.decode()}: not in {worker.keys_dir / 'clients'}"
    assert log.count(line) == 1, log
    public, secret = zmq.auth.load_certificate(worker.client_secret)
    sock, monitor = worker.dealer(public, secret)
    sock.send_multipart(hello_parts())
    got = next_reply(sock, 10.0)
    assert got is not None and got[0]["kind"] == "result"
    monitor.close()
    sock.close()


@pytest.mark.parametrize("bind", ["tcp://0.0.0.0:5999", "tcp://10.1.2.3:5999", "tcp://*:5999"])
def test_non_loopback_bind_without_keys_is_refused(bind: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        worker_main(["--bind", bind])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"--bind {bind}: without --keys only ipc:// or tcp://127.0.0.1 are allowed" in err


def test_key_directory_problems_are_named(tmp_path: Path) -> None:
    with pytest.raises(KeysError, match="not a directory"):
        load_server_keys(tmp_path / "nope")
    with pytest.raises(KeysError, match=r"server\.key_secret: missing"):
        load_server_keys(tmp_path)
    zmq.auth.create_certificates(tmp_path, "server")
    with pytest.raises(KeysError, match="mode 0644 lets other users read the secret key"):
        os.chmod(tmp_path / "server.key_secret", 0o644)
        load_server_keys(tmp_path)
    os.chmod(tmp_path / "server.key_secret", 0o600)
    with pytest.raises(KeysError, match=r"clients: missing"):
        load_server_keys(tmp_path)
    (tmp_path / "clients").mkdir()
    with pytest.raises(KeysError, match=r"no client keys"):
        load_server_keys(tmp_path)
    (tmp_path / "clients" / "bad.key").write_text('curve\n    public-key = "tooshort"\n')
    with pytest.raises(KeysError, match="not a 40-character Z85 CURVE key"):
        load_server_keys(tmp_path)
    (tmp_path / "clients" / "bad.key").unlink()
    pub, _ = zmq.auth.create_certificates(tmp_path / "clients", "alice")
    keys = load_server_keys(tmp_path)
    assert keys.clients == 1
    assert keys.public == zmq.auth.load_certificate(tmp_path / "server.key")[0]
    assert keys.secret == zmq.auth.load_certificate(tmp_path / "server.key_secret")[1]
