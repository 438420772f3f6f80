/**
 * CURVE keys for remote workers: generate, write and read ZeroMQ certificates in the format of pyzmq's
 * `zmq.auth.create_certificates` (Z85 keys in ZPL text files), so `lo-exp worker keygen` output is what
 * `py/linkedout/worker/curve.py` loads. See schemas/protocol/README.md, "Remote workers".
 *
 *   server:  DIR/server.key (public, give to clients), DIR/server.key_secret (0600), DIR/clients/ (0700)
 *   client:  DIR/client.key (public, copy into the worker's clients/), DIR/client.key_secret (0600)
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import * as zmq from "zeromq";
import { WorkerError } from "./errors.js";

export interface CurveKeyPair {
  /** Z85, 40 characters */
  publicKey: string;
  /** Z85, 40 characters */
  secretKey: string;
}

export type KeyRole = "server" | "client";

/** The worker's authorised client keys live here, under its key directory. */
export const CLIENTS_DIR = "clients";

const Z85_KEY = /^[0-9a-zA-Z.\-:+=^!/*?&<>()[\]{}@%$#]{40}$/;

/** Whether `s` is a 40-character Z85 string (a 32-byte CURVE key). */
export function isZ85Key(s: string): boolean {
  return Z85_KEY.test(s);
}

function banner(kind: "Secret" | "Public"): string {
  const now = new Date().toISOString().replace("T", " ").replace("Z", "");
  return kind === "Secret"
    ? `#   ****  Generated on ${now} by lo-exp worker keygen  ****\n#   ZeroMQ CURVE **Secret** Certificate\n#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n\n`
    : `#   ****  Generated on ${now} by lo-exp worker keygen  ****\n#   ZeroMQ CURVE Public Certificate\n#   Exchange securely, or use a secure mechanism to verify the contents\n#   of this file after exchange.\n\n`;
}

/** Write `<dir>/<name>.key` (public) and `<dir>/<name>.key_secret` (0600); refuses to overwrite either. */
export function writeCertificates(dir: string, name: string, pair: CurveKeyPair): { publicFile: string; secretFile: string } {
  const publicFile = path.join(dir, `${name}.key`);
  const secretFile = path.join(dir, `${name}.key_secret`);
  for (const f of [publicFile, secretFile]) {
    if (existsSync(f)) throw new WorkerError("KeysExist", `${f}: already exists; keygen never overwrites a key (remove it first to replace it)`);
  }
  const body = `metadata\ncurve\n    public-key = "${pair.publicKey}"\n`;
  // the secret first, created 0600 (never world-readable, not even for a moment)
  writeFileSync(secretFile, `${banner("Secret")}${body}    secret-key = "${pair.secretKey}"\n`, { mode: 0o600, flag: "wx" });
  chmodSync(secretFile, 0o600); // the umask cannot widen it, but an odd umask could narrow it oddly
  writeFileSync(publicFile, `${banner("Public")}${body}`, { mode: 0o644, flag: "wx" });
  return { publicFile, secretFile };
}

export interface KeygenResult {
  role: KeyRole;
  publicKey: string;
  publicFile: string;
  secretFile: string;
  /** server role: the directory for authorised client keys */
  clientsDir?: string;
}

/** `lo-exp worker keygen`: a fresh keypair for a worker (`server`) or an orchestrator (`client`) in `out`. */
export function generateKeys(opts: { out: string; role: KeyRole }): KeygenResult {
  const out = path.resolve(opts.out);
  mkdirSync(out, { recursive: true, mode: 0o700 });
  const pair = zmq.curveKeyPair();
  const files = writeCertificates(out, opts.role, pair);
  const result: KeygenResult = { role: opts.role, publicKey: pair.publicKey, ...files };
  if (opts.role === "server") {
    result.clientsDir = path.join(out, CLIENTS_DIR);
    mkdirSync(result.clientsDir, { recursive: true, mode: 0o700 });
  }
  return result;
}

/** Read a certificate file (as pyzmq's zmq.auth.load_certificate does); the secret key is null in a public file. */
export function readCertificate(file: string): { publicKey: string; secretKey: string | null } {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new WorkerError("KeysInvalid", `${file}: cannot read CURVE key file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let publicKey: string | null = null;
  let secretKey: string | null = null;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    const m = /^(public-key|secret-key)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    const value = m[2]!.replace(/^["'\s]+|["'\s]+$/g, "");
    if (!isZ85Key(value)) throw new WorkerError("KeysInvalid", `${file}: ${m[1]} is not a 40-character Z85 CURVE key`);
    if (m[1] === "public-key") publicKey = value;
    else secretKey = value;
  }
  if (!publicKey) throw new WorkerError("KeysInvalid", `${file}: no public-key line; not a ZeroMQ CURVE certificate`);
  return { publicKey, secretKey };
}

/** A worker's public key: a Z85 key as is, else the path of its `server.key` file. */
export function resolveServerKey(value: string): string {
  if (isZ85Key(value) && !existsSync(value)) return value;
  return readCertificate(value).publicKey;
}

/** A client keypair: as given, or read from the path of its `client.key_secret` file (which must be private). */
export function resolveClientKeys(value: string | CurveKeyPair): CurveKeyPair {
  if (typeof value !== "string") {
    for (const [k, v] of Object.entries(value)) {
      if (!isZ85Key(v)) throw new WorkerError("KeysInvalid", `client keys: ${k} is not a 40-character Z85 CURVE key`);
    }
    return value;
  }
  const { publicKey, secretKey } = readCertificate(value);
  if (!secretKey) throw new WorkerError("KeysInvalid", `${value}: holds no secret-key line; give the client's .key_secret file, not its public .key`);
  const mode = statSync(value).mode & 0o777;
  if (mode & 0o077) throw new WorkerError("KeysInvalid", `${value}: mode ${mode.toString(8).padStart(4, "0")} lets other users read the secret key; run chmod 600 on it`);
  return { publicKey, secretKey };
}
