"""CURVE authentication for remote workers (design.md "Past one machine"; schemas/protocol/README.md).

A worker bound to a non-loopback TCP address must be CURVE-secured: traffic is encrypted and only
clients whose public key the worker lists may talk to it. Keys are ZeroMQ certificates in the
format of `zmq.auth.create_certificates` (Z85 keys in ZPL text files). The worker's key directory:

    DIR/server.key          the worker's public key: give it to clients
    DIR/server.key_secret   the worker's secret key (mode 0600; never leaves this host)
    DIR/clients/*.key       public keys of the clients allowed to connect

Authorisation is pyzmq's ZAP handler (`zmq.auth.thread.ThreadAuthenticator`) configured with
`configure_curve(location=DIR/clients)`: a client whose key is not there fails the handshake and
never reaches the worker's socket. The clients directory is read at startup; restart the worker
after adding or removing a key.
"""

from __future__ import annotations

import logging
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

SERVER_SECRET_FILE = "server.key_secret"
CLIENTS_DIR = "clients"


class KeysError(ValueError):
    """The key directory is unusable; the message names the file and the fix."""


@dataclass(frozen=True)
class ServerKeys:
    public: bytes  # Z85, 40 bytes
    secret: bytes  # Z85, 40 bytes
    clients_dir: Path
    clients: int  # authorised client keys found at load time


def load_server_keys(keys_dir: str | Path) -> ServerKeys:
    """Read DIR/server.key_secret and check DIR/clients/ holds at least one client key."""
    root = Path(keys_dir).expanduser().resolve()
    if not root.is_dir():
        raise KeysError(f"--keys {keys_dir}: not a directory (create one with `lo-exp worker keygen --role server --out {keys_dir}`)")
    secret_file = root / SERVER_SECRET_FILE
    if not secret_file.is_file():
        raise KeysError(f"{secret_file}: missing (create it with `lo-exp worker keygen --role server --out {keys_dir}`)")
    mode = secret_file.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        # like ssh: a secret others can read is not a secret
        raise KeysError(f"{secret_file}: mode {stat.S_IMODE(mode):04o} lets other users read the secret key; run chmod 600 on it")
    try:
        public, secret = zmq.auth.load_certificate(secret_file)
    except ValueError as exc:
        raise KeysError(f"{secret_file}: {exc}") from None
    if not secret:
        raise KeysError(f"{secret_file}: holds no secret-key line (is it a public .key file?)")
    _check_z85(public, secret_file, "public-key")
    _check_z85(secret, secret_file, "secret-key")
    clients_dir = root / CLIENTS_DIR
    if not clients_dir.is_dir():
        raise KeysError(f"{clients_dir}: missing; put the public key (client.key) of every client allowed to connect there")
    try:
        clients = zmq.auth.load_certificates(clients_dir)
    except ValueError as exc:  # a .key file without a public-key line
        raise KeysError(f"{clients_dir}: {exc}") from None
    for key in clients:
        _check_z85(key, clients_dir, "a client public-key")
    if not clients:
        raise KeysError(f"{clients_dir}: no client keys (*.key); copy each client's client.key there, or no one can connect")
    return ServerKeys(public=public, secret=secret, clients_dir=clients_dir, clients=len(clients))


def _check_z85(key: bytes, where: Path, what: str) -> None:
    try:
        ok = len(key) == 40 and len(zmq.utils.z85.decode(key)) == 32
    except (ValueError, KeyError, IndexError):
        ok = False
    if not ok:
        raise KeysError(f"{where}: {what} is not a 40-character Z85 CURVE key")


class _RefusalLog(logging.Handler):
    """One stderr line per refused client key (a refused client retries every 100 ms), and any auth error.

    pyzmq's authenticator logs each decision at debug level as ("%s (CURVE) domain=%s client_key=%s",
    "DENIED", domain, key); everything else it logs at debug is dropped here.
    """

    def __init__(self, clients_dir: Path) -> None:
        super().__init__(logging.DEBUG)
        self.clients_dir = clients_dir
        self.seen: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            line = f"linkedout worker: CURVE authenticator: {record.getMessage()}"
        elif record.getMessage().startswith("DENIED"):
            args = record.args if isinstance(record.args, tuple) else ()
            key = args[-1] if args else "?"
            key = key.decode() if isinstance(key, bytes) else str(key)
            if key in self.seen:
                return
            self.seen.add(key)
            line = (f"linkedout worker: refused client key {key}: not in {self.clients_dir} "
                    "(further attempts with this key are not logged)")
        else:
            return
        print(line, file=sys.stderr, flush=True)


def start_authenticator(ctx: zmq.Context, keys: ServerKeys) -> ThreadAuthenticator:
    """Start the ZAP handler for `ctx`: only the keys in `keys.clients_dir` pass. Stop it before ctx.term()."""
    log = logging.getLogger(f"linkedout.worker.auth.{id(ctx):x}")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    log.addHandler(_RefusalLog(keys.clients_dir))
    auth = ThreadAuthenticator(ctx, log=log)
    auth.start()
    auth.configure_curve(domain="*", location=str(keys.clients_dir))
    return auth


def make_curve_server(sock: zmq.Socket, keys: ServerKeys) -> None:
    """Turn `sock` into a CURVE server (before bind): every connection must pass the handshake and ZAP."""
    sock.curve_secretkey = keys.secret
    sock.curve_publickey = keys.public
    sock.curve_server = True
