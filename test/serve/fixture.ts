// A tiny trained run with its EmbeddingStore, made by the real Python code (the model helper's synthetic
// split + TokenStore writers, its training loop, and our `embed` op), built once per mocha process.
// ~5 s on one core.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { execa } from "execa";
import { findPython } from "../../ts/worker/index.js";
import { REPO_ROOT } from "../helpers.js";

const SCRIPT = String.raw`
import sys, torch
from pathlib import Path
torch.set_num_threads(1)
from linkedout.train.synthetic import write_synthetic_split, write_synthetic_store
from linkedout.train.spec import TrainSpec
from linkedout.train.loop import train
from linkedout.serve.ops import embed
from linkedout.protocol.op import OpContext
root = Path(sys.argv[1])
write_synthetic_split(root / "split", 80, 40, seed=0)
write_synthetic_store(root / "tokens", 40)
train(TrainSpec.from_json({
    "run_dir": str(root / "run"), "split_dir": str(root / "split"), "store": str(root / "tokens"),
    "recommender": {"d_c": 32, "d_z": 16, "compressor": {"heads": 2}, "moe": {"expert_hidden": 32, "gate_hidden": 16}},
    "train": {"epochs": 3, "batch_size": 32, "lr": {"item_encoder": 1e-3, "ranker": 1e-3}}, "device": "cpu"}))
embed({"run_dir": str(root / "run"), "split_dir": str(root / "split"), "store": str(root / "tokens")}, {},
      OpContext(torch.device("cpu"), {}))
`;

export interface TrainedRun {
  root: string;
  runDir: string;
  splitDir: string;
  tokenStore: string;
}

let pending: Promise<TrainedRun> | null = null;

/** Build (once per mocha process, removed at exit) the tiny trained run. */
export function trainedRun(): Promise<TrainedRun> {
  pending ??= build();
  return pending;
}

async function build(): Promise<TrainedRun> {
  const root = mkdtempSync(path.join(tmpdir(), "lo-serve-test-"));
  process.once("exit", () => rmSync(root, { recursive: true, force: true }));
  await execa(findPython(), ["-c", SCRIPT, root], {
    cwd: REPO_ROOT,
    env: { PYTHONPATH: path.join(REPO_ROOT, "py"), OMP_NUM_THREADS: "1" },
  });
  return { root, runDir: path.join(root, "run"), splitDir: path.join(root, "split"), tokenStore: path.join(root, "tokens") };
}

const TOPIC_SCRIPT = String.raw`
import sys
from pathlib import Path
from linkedout.extract.tiny_model import build_tiny_model
from store_topic_run import build_topic_run
root = Path(sys.argv[1])
build_tiny_model(root / "tiny", hidden=64, layers=8, image_size=32, seed=0)
build_topic_run(root, root / "tiny")
`;

export interface TopicRun {
  root: string;
  runDir: string;
  videosDir: string;
  /** rendered but not in the catalogue: the cold-start video (topic 0's look) */
  newItem: string;
}

let topicPending: Promise<TopicRun> | null = null;

/** 3 topics x 8 real videos, tiny VLLM extraction, a trained model and its EmbeddingStore
 * (py/tests/serve/store_topic_run.py). Once per mocha process, removed at exit. ~15 s on one core. */
export function topicRun(): Promise<TopicRun> {
  topicPending ??= (async () => {
    const root = mkdtempSync(path.join(tmpdir(), "lo-serve-topics-"));
    process.once("exit", () => rmSync(root, { recursive: true, force: true }));
    await execa(findPython(), ["-c", TOPIC_SCRIPT, root], {
      cwd: REPO_ROOT,
      env: { PYTHONPATH: [path.join(REPO_ROOT, "py"), path.join(REPO_ROOT, "py", "tests", "serve")].join(path.delimiter), OMP_NUM_THREADS: "1", HF_HUB_OFFLINE: "1" },
    });
    return { root, runDir: path.join(root, "run"), videosDir: path.join(root, "videos"), newItem: "new-red-circle" };
  })();
  return topicPending;
}
