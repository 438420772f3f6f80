// The worker API: start Python workers and call their ops (docs/protocol.md).
export { startWorker, connectWorker, WorkerClient, CallResult, type StartWorkerOptions, type ConnectWorkerOptions, type CallOptions, type InFrame, type OutFrame, type WorkerInfo } from "./client.js";
export { generateKeys, readCertificate, type CurveKeyPair, type KeyRole, type KeygenResult } from "./curve.js";
export { serveWorker, type ServeWorkerOptions, type ServedWorker } from "./remote-server.js";
export { WorkerPool, IDEMPOTENT_OPS, type PoolOptions, type PoolCallOptions, type Where } from "./pool.js";
export { WorkerError } from "./errors.js";
export type { OpArgs, OpName } from "./generated/ops.js";
export { tensor, encodeTensor, decodeTensor, encodeTable, decodeTable, numel, DTYPES, type DType, type Tensor, type TensorData } from "./codec.js";
export { PROTOCOL_VERSION, type ProgressInfo, type ErrorInfo } from "./protocol.js";
export { findPython, REPO_ROOT } from "./python.js";
