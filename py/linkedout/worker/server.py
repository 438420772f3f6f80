"""The worker process: a ZeroMQ ROUTER serving the ops of `registry.OPS` (protocol v1, docs/protocol.md).

Threads: the socket thread (this module's `serve`) owns the ROUTER socket. It validates each request,
answers the tiny control ops (hello, ping, shutdown) itself, sends heartbeats, and hands every other
op to one handler thread through a queue. The handler thread sends its replies and progress through
an inproc PUSH socket that the socket thread forwards to the ROUTER, so a long op never blocks
heartbeats, progress or pings. Frames are received without copying and decoded as views.

With `curve` keys (remote workers, `lo-exp worker --keys DIR`) the ROUTER is a CURVE server and a ZAP
handler admits only the listed client keys (linkedout.worker.curve).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import torch
import zmq

from .codec import decode_table, decode_tensor, dtype_name, stream_writer, tensor_to_batch
from .curve import ServerKeys, make_curve_server, start_authenticator
from linkedout.protocol.op import FrameValue, Op, OpContext, OpError, OpResult
from .protocol import PROTOCOL_VERSION, args_validator, first_error, header_validator
from .registry import OPS
from .shm import PeerShm, check_dir, map_input, write_output

READY_PREFIX = "LINKEDOUT_READY "
DEFAULT_MAX_MESSAGE_BYTES = 1 << 30  # 1 GiB: bulk data goes through files, not the wire
# The socket itself drops (disconnects) anything past this hard cap without a reply; between the
# limit and the cap we can still read the header and answer MessageTooLarge.
_HARD_CAP_FACTOR = 4


@dataclass
class _Job:
    identity: bytes
    id: str
    op_name: str
    op: Op
    args: dict[str, Any]
    frames: dict[str, FrameValue]
    shm: PeerShm | None = None  # where large results go, if the client offered a directory


def _dumps(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()


def error_header(request_id: str | None, type: str, message: str, tb: str | None = None, op: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"type": type, "message": message}
    if tb:
        error["traceback"] = tb
    if op:
        error["op"] = op
    return {"v": PROTOCOL_VERSION, "id": request_id, "kind": "error", "error": error}


def result_parts(request_id: str, out: OpResult, shm: PeerShm | None = None) -> list[Any]:
    """Header + encoded frames of a result reply.

    Socket frames are Arrow buffers sent without copying; frames of at least `shm.min_bytes` are
    written into the client's shm directory instead and travel as an empty socket frame.
    """
    descriptors, buffers = [], []
    for f in out.frames:
        if isinstance(f.value, pa.Table):
            layout, data = "table", f.value
        else:
            layout, data = "tensor", tensor_to_batch(f.value)
        write, nbytes = stream_writer(data)
        desc: dict[str, Any] = {"name": f.name, "layout": layout, "bytes": nbytes}
        if shm is not None and nbytes >= shm.min_bytes:
            desc["shm"] = write_output(shm, write, nbytes)
            buffers.append(b"")
        else:
            buf = pa.allocate_buffer(nbytes)
            write(pa.FixedSizeBufferWriter(buf))
            buffers.append(buf)
        descriptors.append(desc)
    header = {"v": PROTOCOL_VERSION, "id": request_id, "kind": "result", "result": out.result, "frames": descriptors}
    return [_dumps(header), *buffers]


class WorkerServer:
    def __init__(
        self,
        bind: str,
        device: str = "cpu",
        heartbeat_s: float = 1.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        ops: dict[str, Op] = OPS,
        parent_pid: int | None = None,
        curve: ServerKeys | None = None,
    ) -> None:
        self.bind = bind
        self.device = torch.device(device)
        self.heartbeat_s = heartbeat_s
        self.max_message_bytes = max_message_bytes
        self.ops = ops
        self.parent_pid = parent_pid  # stop serving when re-parented: the orchestrator died
        self.curve = curve  # CURVE server keys: every peer must pass the handshake and the ZAP check
        self.state: dict[str, Any] = {}
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._busy: str | None = None
        self._peers: set[bytes] = set()
        self._peer_shm: dict[bytes, PeerShm] = {}  # identity -> shm directory offered at hello
        self._out_endpoint = f"inproc://linkedout-out-{uuid.uuid4().hex}"
        self._ctx = zmq.Context()

    # ---- the socket thread -------------------------------------------------------------------
    def serve(self) -> None:
        auth = start_authenticator(self._ctx, self.curve) if self.curve else None
        router = self._ctx.socket(zmq.ROUTER)
        if self.curve:
            make_curve_server(router, self.curve)
        router.setsockopt(zmq.MAXMSGSIZE, self.max_message_bytes * _HARD_CAP_FACTOR)
        router.setsockopt(zmq.LINGER, 2000)
        router.bind(self.bind)
        endpoint = router.getsockopt_string(zmq.LAST_ENDPOINT)
        pull = self._ctx.socket(zmq.PULL)
        pull.bind(self._out_endpoint)
        handler_thread = threading.Thread(target=self._handler_loop, name="linkedout-handler", daemon=True)
        handler_thread.start()
        ready: dict[str, Any] = {"endpoint": endpoint, "pid": os.getpid(), "protocol": PROTOCOL_VERSION}
        if self.curve:
            ready["curve"] = {"server_public_key": self.curve.public.decode(), "clients": self.curve.clients}
        print(READY_PREFIX + json.dumps(ready), flush=True)

        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        poller.register(pull, zmq.POLLIN)
        next_beat = time.monotonic() + self.heartbeat_s
        stopping = False
        while not stopping:
            timeout_ms = max(0, int((next_beat - time.monotonic()) * 1000))
            events = dict(poller.poll(timeout_ms))
            if pull in events:
                while True:  # forward everything the handler thread has queued
                    try:
                        router.send_multipart(pull.recv_multipart(zmq.NOBLOCK, copy=False), copy=False)
                    except zmq.Again:
                        break
            if router in events:
                while True:
                    try:
                        parts = router.recv_multipart(zmq.NOBLOCK, copy=False)
                    except zmq.Again:
                        break
                    stopping = self._on_request(router, parts)
                    if stopping:
                        break
            now = time.monotonic()
            if self.parent_pid is not None and os.getppid() != self.parent_pid:
                print(f"linkedout worker {os.getpid()}: parent {self.parent_pid} is gone; exiting", file=sys.stderr, flush=True)
                # nobody else will remove the dead client's shm directories (and the RAM their files hold)
                for peer in self._peer_shm.values():
                    if peer.dir.name.startswith("lo-shm-"):
                        shutil.rmtree(peer.dir, ignore_errors=True)
                break
            if now >= next_beat:
                beat = _dumps({"v": PROTOCOL_VERSION, "kind": "heartbeat", "t": time.time(), "busy": self._busy})
                for peer in self._peers:
                    router.send_multipart([peer, beat])
                next_beat = now + self.heartbeat_s

        self._jobs.put(None)
        handler_thread.join(timeout=2.0)
        pull.close(linger=0)
        router.close(linger=2000)
        if auth is not None:
            auth.stop()
        if handler_thread.is_alive():
            # An op is still running: the reply to `shutdown` is queued with linger; leave hard.
            time.sleep(0.3)
            sys.stdout.flush()
            os._exit(0)
        self._ctx.term()

    def _on_request(self, router: zmq.Socket, parts: list[zmq.Frame]) -> bool:
        """Validate and dispatch one request. Returns True when the worker should stop."""
        identity = parts[0].bytes
        self._peers.add(identity)

        def reply_error(request_id: str | None, type: str, message: str, op: str | None = None) -> None:
            router.send_multipart([identity, _dumps(error_header(request_id, type, message, op=op))])

        if len(parts) < 2:
            reply_error(None, "HeaderInvalid", "empty message: frame 0 must be a JSON header")
            return False
        try:
            header = json.loads(parts[1].bytes.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            reply_error(None, "HeaderInvalid", f"frame 0 is not a JSON header: {exc}")
            return False
        request_id = header.get("id") if isinstance(header, dict) and isinstance(header.get("id"), str) else None
        op_name = header.get("op") if isinstance(header, dict) and isinstance(header.get("op"), str) else None

        size = sum(len(p) for p in parts[1:])
        if size > self.max_message_bytes:
            reply_error(request_id, "MessageTooLarge",
                        f"request is {size} bytes, over this worker's limit of {self.max_message_bytes} bytes; "
                        "pass bulk data as files", op_name)
            return False
        if isinstance(header, dict) and "v" in header and header["v"] != PROTOCOL_VERSION:
            reply_error(request_id, "ProtocolVersion",
                        f"header.v is {header['v']!r}; this worker speaks protocol {PROTOCOL_VERSION}", op_name)
            return False
        problem = first_error(header_validator("request"), header, "header")
        if problem:
            reply_error(request_id, "HeaderInvalid", problem, op_name)
            return False
        assert request_id is not None and op_name is not None
        op = self.ops.get(op_name)
        if op is None:
            reply_error(request_id, "UnknownOp", f"unknown op {op_name!r}; this worker has: {', '.join(sorted(self.ops))}", op_name)
            return False
        problem = first_error(args_validator(op_name), header["args"], "args")  # the schema named by the op
        if problem:
            reply_error(request_id, "ArgsInvalid", f"op {op_name}: {problem}", op_name)
            return False
        peer_shm = self._peer_shm.get(identity)
        try:
            frames = self._decode_frames(op_name, op, header["frames"], parts[2:], peer_shm)
            if header.get("shm_out") and peer_shm is None:
                raise OpError("FramesInvalid", "header.shm_out given but this client offered no shm_dir at hello")
        except OpError as exc:
            reply_error(request_id, exc.type, f"op {op_name}: {exc.message}", op_name)
            return False

        if op_name == "hello":
            # The handshake is where a client offers its shm directory; remember it per peer.
            return self._hello(router, identity, request_id, header["args"])
        out_shm = None if peer_shm is None else PeerShm(peer_shm.dir, peer_shm.min_bytes, list(header.get("shm_out", [])))
        job = _Job(identity, request_id, op_name, op, header["args"], frames, out_shm)
        if op.inline:
            for msg in self._run(job, progress_sink=None):
                router.send_multipart([identity, *msg], copy=False)
            return op_name == "shutdown"
        self._jobs.put(job)
        return False

    def _hello(self, router: zmq.Socket, identity: bytes, request_id: str, args: dict[str, Any]) -> bool:
        job = _Job(identity, request_id, "hello", self.ops["hello"], args, {})
        if "shm_dir" in args:
            try:
                shm_dir = check_dir(args["shm_dir"])
                self._peer_shm[identity] = PeerShm(shm_dir, int(args.get("shm_min_bytes", 1 << 20)))
            except OpError as exc:
                router.send_multipart([identity, _dumps(error_header(request_id, exc.type, f"op hello: {exc.message}", op="hello"))])
                return False
        for msg in self._run(job, progress_sink=None):
            router.send_multipart([identity, *msg], copy=False)
        return False

    def _decode_frames(self, op_name: str, op: Op, descriptors: list[dict[str, Any]], data: list[zmq.Frame],
                       peer_shm: PeerShm | None) -> dict[str, FrameValue]:
        if len(descriptors) != len(data):
            raise OpError("FramesInvalid", f"header.frames lists {len(descriptors)} frames but {len(data)} followed")
        frames: dict[str, FrameValue] = {}
        for i, (desc, frame) in enumerate(zip(descriptors, data)):
            name = desc["name"]
            if name in frames:
                raise OpError("FramesInvalid", f"header.frames[{i}]: duplicate frame name {name!r}")
            what = f"frame {name!r}"
            if "shm" in desc:
                if peer_shm is None:
                    raise OpError("FramesInvalid", f"{what} is in shm file {desc['shm']} but this client offered no shm_dir at hello")
                if len(frame):
                    raise OpError("FramesInvalid", f"{what}: an shm frame's socket frame must be empty, got {len(frame)} bytes")
                buf: Any = map_input(peer_shm, desc["shm"], desc["bytes"], what)
            else:
                if "bytes" in desc and desc["bytes"] != len(frame):
                    raise OpError("FramesInvalid", f"{what}: header says {desc['bytes']} bytes, received {len(frame)} (truncated?)")
                buf = frame.buffer
            frames[name] = decode_tensor(buf, what) if desc["layout"] == "tensor" else decode_table(buf, what)
        if op.frames is not None:
            for name, spec in op.frames.items():
                if name not in frames:
                    if spec.required:
                        raise OpError("FramesInvalid", f"missing tensor frame {name!r}")
                    continue
                value = frames[name]
                if not isinstance(value, torch.Tensor):
                    raise OpError("FramesInvalid", f"frame {name!r} must have layout 'tensor'")
                if spec.dtypes is not None and dtype_name(value) not in spec.dtypes:
                    raise OpError("TensorInvalid", f"frame {name!r}: dtype {dtype_name(value)} is not one of {', '.join(sorted(spec.dtypes))}")
                if spec.shape is not None and (
                    value.dim() != len(spec.shape) or any(w is not None and w != s for w, s in zip(spec.shape, value.shape))
                ):
                    want = "[" + ",".join("*" if w is None else str(w) for w in spec.shape) + "]"
                    raise OpError("TensorInvalid", f"frame {name!r}: shape {list(value.shape)} does not match {want}")
            extra = sorted(set(frames) - set(op.frames))
            if extra:
                raise OpError("FramesInvalid", f"unexpected frames {extra}; expected {sorted(op.frames)}")
        return frames

    # ---- running ops -----------------------------------------------------------------------------
    def _run(self, job: _Job, progress_sink: Any) -> list[list[Any]]:
        """Run one op; the reply parts (without identity)."""
        ctx = OpContext(self.device, self.state, progress_sink)
        try:
            out = job.op.handler(job.args, job.frames, ctx)
            return [result_parts(job.id, out, job.shm)]
        except OpError as exc:
            return [[_dumps(error_header(job.id, exc.type, f"op {job.op_name}: {exc.message}", op=job.op_name))]]
        except BaseException as exc:  # a handler bug (even SystemExit): the caller gets type, message and traceback;
            # the handler thread must survive, or every later call would wait forever
            return [[_dumps(error_header(job.id, type(exc).__name__, f"op {job.op_name}: {exc}",
                                         traceback.format_exc(), op=job.op_name))]]

    def _handler_loop(self) -> None:
        push = self._ctx.socket(zmq.PUSH)
        push.setsockopt(zmq.LINGER, 0)
        push.connect(self._out_endpoint)
        lock = threading.Lock()
        while True:
            job = self._jobs.get()
            if job is None:
                break
            self._busy = job.id
            identity, request_id = job.identity, job.id

            def sink(progress: dict[str, Any]) -> None:
                header = _dumps({"v": PROTOCOL_VERSION, "id": request_id, "kind": "progress", "progress": progress})
                with lock:
                    push.send_multipart([identity, header])

            for msg in self._run(job, sink):
                with lock:
                    push.send_multipart([identity, *msg], copy=False)
            self._busy = None
            job = None  # drop frame views promptly
        push.close()
