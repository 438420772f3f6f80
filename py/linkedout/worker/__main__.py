"""`python -m linkedout.worker --bind ENDPOINT [--keys DIR] --device cpu --threads N`: run one worker process.

Without `--keys` the worker binds only ipc:// or loopback TCP (no open port). With `--keys DIR` it is a
CURVE server (linkedout.worker.curve) and may bind any TCP address: a remote worker.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile


def main(argv: list[str] | None = None) -> None:
    parent_pid = os.getppid()  # read first: if the parent dies later we are re-parented and notice
    parser = argparse.ArgumentParser(prog="python -m linkedout.worker", description=__doc__)
    parser.add_argument("--bind", help="ipc://PATH or tcp://127.0.0.1:PORT (default: ipc:// in a private temp dir); "
                                       "with --keys any tcp://HOST:PORT")
    parser.add_argument("--keys", help="CURVE key directory (server.key_secret, clients/*.key): encrypt and admit only listed clients")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (TS pins GPUs with CUDA_VISIBLE_DEVICES)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--heartbeat-s", type=float, default=1.0, help="seconds between heartbeats")
    parser.add_argument("--max-message-bytes", type=int, default=None, help="largest request accepted")
    ns = parser.parse_args(argv)
    if ns.threads < 1:
        parser.error("--threads must be >= 1")
    if ns.keys is not None and ns.bind is None:
        parser.error("--keys needs --bind tcp://HOST:PORT")
    bind = ns.bind
    private_dir = None
    if bind is None:
        private_dir = tempfile.mkdtemp(prefix="linkedout-w-")  # mode 0700: only this user can connect
        bind = f"ipc://{private_dir}/w.sock"
    loopback = bind.startswith("ipc://") or bind.startswith("tcp://127.0.0.1:") or bind.startswith("tcp://localhost:")
    keys = None
    if ns.keys is None:
        if not loopback:
            parser.error(f"--bind {bind}: without --keys only ipc:// or tcp://127.0.0.1 are allowed "
                         "(no open, unauthenticated port); pass --keys DIR to serve over CURVE")
    else:
        if not (bind.startswith("tcp://") or bind.startswith("ipc://")):
            parser.error(f"--bind {bind}: use tcp://HOST:PORT")
        from .curve import KeysError, load_server_keys

        try:
            keys = load_server_keys(ns.keys)
        except KeysError as exc:
            parser.exit(2, f"linkedout worker: {exc}\n")

    # Pin CPU threads before torch starts its pools.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, str(ns.threads))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(ns.threads)
    if ns.device.startswith("cuda") and not torch.cuda.is_available():
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>")
        from ..extract.device import cuda_build, driver_description

        parser.exit(2, f"linkedout worker: --device {ns.device} but torch sees no CUDA device "
                       f"(CUDA_VISIBLE_DEVICES={visible}, torch {torch.__version__}): {cuda_build()}; {driver_description()}\n")
    from .server import DEFAULT_MAX_MESSAGE_BYTES, WorkerServer

    try:
        WorkerServer(bind, device=ns.device, heartbeat_s=ns.heartbeat_s, parent_pid=parent_pid,
                     max_message_bytes=ns.max_message_bytes or DEFAULT_MAX_MESSAGE_BYTES, curve=keys).serve()
    finally:
        if private_dir:
            shutil.rmtree(private_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
