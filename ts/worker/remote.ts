/**
 * Reaching a worker that runs elsewhere (`lo-exp worker --bind tcp://… --keys DIR` on another host):
 * the key rules, a DEALER socket with CURVE, and what a failed handshake means in words.
 * The RPC over the socket is the same as for a local worker (client.ts).
 */
import * as zmq from "zeromq";
import { resolveClientKeys, resolveServerKey, type CurveKeyPair } from "./curve.js";
import { WorkerError } from "./errors.js";

export interface ConnectWorkerOptions {
  /** tcp://HOST:PORT of a worker started with `lo-exp worker --bind … --keys DIR` */
  endpoint: string;
  /** the worker's public key: Z85 (40 characters) or the path of its server.key. Omit (with clientKeys) only for a loopback/ipc worker without CURVE. */
  serverPublicKey?: string;
  /** this client's keypair, or the path of its client.key_secret; its public key must be in the worker's clients/ directory */
  clientKeys?: string | CurveKeyPair;
  /** How long to wait for the handshake (hello). Default 15 s. */
  connectTimeoutS?: number;
  /** Warn when no heartbeat arrives for this long (counted while this process runs). Default 20 s. */
  heartbeatTimeoutS?: number;
  /** Further silence before the worker is declared gone and every pending call fails. Default 0 s: a remote worker cannot be told apart from a lost network. */
  hangGraceS?: number;
  maxMessageBytes?: number;
  /** Liveness warnings (silent, recovered). */
  onWarning?: (message: string) => void;
}

export interface RemoteSocket {
  dealer: zmq.Dealer;
  /** this client's CURVE public key, or null without CURVE */
  clientPublicKey: string | null;
}

/** Check the key rules and open (not yet connect) the DEALER; throws WorkerError KeysInvalid. */
export function openRemoteSocket(opts: ConnectWorkerOptions, maxMessageBytes: number): RemoteSocket {
  const endpoint = opts.endpoint;
  const loopback = endpoint.startsWith("ipc://") || endpoint.startsWith("tcp://127.0.0.1:") || endpoint.startsWith("tcp://localhost:");
  if ((opts.serverPublicKey === undefined) !== (opts.clientKeys === undefined)) {
    throw new WorkerError("KeysInvalid", `remote worker ${endpoint}: give both serverPublicKey and clientKeys, or neither`);
  }
  if (opts.serverPublicKey === undefined && !loopback) {
    throw new WorkerError("KeysInvalid", `remote worker ${endpoint}: a worker off this host is reached only over CURVE; give serverPublicKey and clientKeys`);
  }
  const curve = opts.serverPublicKey === undefined ? null : { serverKey: resolveServerKey(opts.serverPublicKey), client: resolveClientKeys(opts.clientKeys!) };
  const dealer = new zmq.Dealer({
    linger: 0, maxMessageSize: maxMessageBytes * 4, sendHighWaterMark: 0, receiveHighWaterMark: 0,
    ...(curve ? { curveServerKey: curve.serverKey, curvePublicKey: curve.client.publicKey, curveSecretKey: curve.client.secretKey } : {}),
  });
  return { dealer, clientPublicKey: curve?.client.publicKey ?? null };
}

/** A refused handshake fails at once (the worker never sees our messages, so hello would only time out). */
export function watchHandshake(socket: RemoteSocket, refused: (why: string) => void): void {
  const key = socket.clientPublicKey;
  socket.dealer.events.on("handshake:error:auth", () =>
    refused(key ? `CURVE authentication failed: its clients/ directory does not list this client's public key ${key}` : "authentication failed"));
  socket.dealer.events.on("handshake:error:protocol", () =>
    refused(key ? "CURVE handshake failed (wrong server public key, or the worker does not use CURVE)" : "handshake failed: the worker requires CURVE (give serverPublicKey and clientKeys)"));
}

/** The error a failed handshake (hello) is reported as. */
export function connectFailure(err: unknown, endpoint: string, socket: RemoteSocket, connectTimeoutS: number): unknown {
  if (err instanceof WorkerError && err.type === "Timeout") {
    return new WorkerError("ConnectFailed",
      `remote worker ${endpoint} did not answer the handshake within ${connectTimeoutS} s: it is not running or not reachable, ` +
        (socket.clientPublicKey
          ? "or the CURVE handshake failed silently (serverPublicKey is not that worker's key, or it does not list this client's public key in its clients/ directory)"
          : "or it requires CURVE authentication (give serverPublicKey and clientKeys)"));
  }
  if (err instanceof WorkerError && err.type === "WorkerDead") return new WorkerError("ConnectFailed", err.message.replace(/^op hello: /, "").replace(/ while the request was pending$/, ""));
  return err;
}
