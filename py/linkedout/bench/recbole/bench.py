"""ID baselines side by side with RecBole 1.2.1 on one split, scored the same way (MicroLens masking).

    .venv/bin/python -m linkedout.bench.recbole.bench --split SPLIT_DIR --out results/bench/recbole \
        [--models sasrec,gru4rec,nextitnet] [--seeds 0,1,2] [--epochs 50] [--patience 10]

SPLIT_DIR is what `lo-exp data split` (the pipeline's split) writes. For every model and seed:
- ours: `configs/<model>-id.yaml` resolved by `lo-exp config show` (seed, epochs, patience set), trained by
  `python -m linkedout.train`; test metrics from its ranks.arrow.
- RecBole: the split as pre-split atomic files (`atomic.py`), trained and re-scored by `run_recbole.py` in the
  bench's own venv (`setup-venv.sh`, created on first use).
Both sides: early stopping on validation HR@10 with the same patience and epoch cap, one torch thread.
Writes <out>/runs/*.json, <out>/recbole.json (all runs + mean ± std) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.ipc as ipc

from linkedout.train.metrics import hit_rate, ndcg

from .atomic import write_atomic

REPO = Path(__file__).resolve().parents[4]
RECBOLE_NAMES = {"sasrec": "SASRec", "gru4rec": "GRU4Rec", "nextitnet": "NextItNet"}
METRICS = ("hit@10", "ndcg@10", "hit@20", "ndcg@20")


def _metrics(ranks: np.ndarray) -> dict[str, float]:
    out = {}
    for k in (10, 20):
        out[f"hit@{k}"] = hit_rate(ranks, k)
        out[f"ndcg@{k}"] = ndcg(ranks, k)
    return out


def run_ours(model: str, seed: int, split: Path, run_dir: Path, epochs: int, patience: int, sets: list[str]) -> dict[str, Any]:
    config = REPO / "configs" / f"{model}-id.yaml"
    args = ["node", str(REPO / "bin" / "lo-exp.js"), "config", "show", str(config), "--json",
            "--set", f"train.seed={seed}", "--set", f"train.epochs={epochs}", "--set", f"train.early_stopping_patience={patience}"]
    for s in sets:
        args += ["--set", s]
    resolved = json.loads(subprocess.run(args, check=True, capture_output=True, text=True, cwd=REPO).stdout)
    run_dir.mkdir(parents=True, exist_ok=True)
    spec = {"run_dir": str(run_dir), "split_dir": str(split), "recommender": resolved["recommender"],
            "train": resolved["train"], "resume": True, "device": "cpu"}  # a cut-short run continues
    (run_dir / "bench-spec.json").write_text(json.dumps(spec, indent=2))
    env = {**os.environ, "PYTHONPATH": str(REPO / "py")}
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "linkedout.train", "--spec", str(run_dir / "bench-spec.json"), "--threads", "1"],
                         capture_output=True, text=True, env=env, cwd=REPO)
    if out.returncode != 0:
        tail = "\n".join(out.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"bench recbole: ours {model} seed {seed} failed (exit {out.returncode}):\n{tail}")
    fit_seconds = time.monotonic() - started
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    ranks = ipc.open_file(run_dir / "ranks.arrow").read_all().to_pydict()
    epochs_log = ipc.open_file(run_dir / "epochs.arrow").read_all().to_pydict()
    by_split = {s: np.array([r for r, sp in zip(ranks["rank"], ranks["split"]) if sp == s]) for s in ("valid", "test")}
    return {"side": "ours", "model": model, "seed": seed, "epochs_done": summary["epochs_done"], "best_epoch": summary["best_epoch"],
            "epoch_seconds": float(np.median(epochs_log["seconds"])), "fit_seconds": fit_seconds,
            "masked": {s: _metrics(r) for s, r in by_split.items()}, "config": str(config.relative_to(REPO)), "sets": sets}


def run_recbole(model: str, seed: int, split: Path, atomic: Path, out: Path, epochs: int, patience: int,
                stop_at: float | None = None) -> dict[str, Any]:
    py = REPO / ".bench-venv" / "recbole" / "bin" / "python"
    subprocess.run(["bash", str(Path(__file__).with_name("setup-venv.sh"))], check=True, cwd=REPO)
    run = subprocess.run([str(py), str(Path(__file__).with_name("run_recbole.py")), "--split", str(split), "--atomic", str(atomic),
                          "--model", RECBOLE_NAMES[model], "--seed", str(seed), "--epochs", str(epochs), "--patience", str(patience),
                          "--out", str(out), *(["--stop-at", str(stop_at)] if stop_at else [])],
                         cwd=REPO, capture_output=True, text=True)
    if run.returncode != 0:
        tail = "\n".join(run.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"bench recbole: RecBole {model} seed {seed} failed (exit {run.returncode}):\n{tail}")
    result = json.loads(out.read_text())
    result["model"] = model
    return result


def mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} ± {sd:.4f}"


def table(runs: list[dict[str, Any]]) -> str:
    head = ["model", "side", "seeds", "HR@10", "NDCG@10", "HR@20", "NDCG@20", "RecBole's own HR@10 (unmasked)",
            "best epoch", "s/epoch (median)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for model in RECBOLE_NAMES:
        for side in ("ours", "recbole"):
            rs = [r for r in runs if r["model"] == model and r["side"] == side]
            if not rs:
                continue
            own = mean_std([r["recbole"]["test"]["hit@10"] for r in rs]) if side == "recbole" else "-"
            row = [model, side, ",".join(str(r["seed"]) + ("*" if r.get("stopped_at_deadline") or r.get("from_checkpoint") else "")
                                         for r in rs),
                   *(mean_std([r["masked"]["test"][m] for r in rs]) for m in METRICS), own,
                   ", ".join(str(r["best_epoch"]) for r in rs), mean_std([r["epoch_seconds"] for r in rs if r.get("epoch_seconds") is not None])]
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--split", type=Path, required=True, help="directory written by `lo-exp data split`")
    p.add_argument("--out", type=Path, default=REPO / "results" / "bench" / "recbole")
    p.add_argument("--models", default="sasrec,gru4rec,nextitnet")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--sides", default="ours,recbole")
    p.add_argument("--epochs", type=int, default=50, help="epoch cap, both sides")
    p.add_argument("--patience", type=int, default=10, help="early-stopping patience on validation HR@10, both sides")
    p.add_argument("--stop-at", type=float, default=None,
                   help="UNIX time after which RecBole ends training at the next epoch and scores its best model so far")
    p.add_argument("--report", action="store_true", help="run nothing: tabulate the runs already in --out")
    p.add_argument("--set", action="append", default=[], help="extra `lo-exp --set` for our side (repeatable)")
    args = p.parse_args(argv)
    split, out = args.split.resolve(), args.out.resolve()
    for f in ("items.arrow", "train.arrow", "valid.arrow", "test.arrow"):
        if not (split / f).exists():
            print(f"bench recbole: {split / f}: missing (make the split with `lo-exp data split DIR --out {split}`)", file=sys.stderr)
            return 2
    atomic = out / "atomic" / "split"
    write_atomic(split, atomic, "split", max_history=10)
    runs: list[dict[str, Any]] = []
    for model in args.models.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            for side in args.sides.split(","):
                path = out / "runs" / f"{model}-{side}-{seed}.json"
                if path.exists():  # resumable: a finished run is not repeated
                    runs.append(json.loads(path.read_text()))
                    continue
                if args.report:
                    continue
                load = os.getloadavg()
                if side == "ours":
                    r = run_ours(model, seed, split, out / "runs" / f"{model}-ours-{seed}", args.epochs, args.patience, args.set)
                else:
                    r = run_recbole(model, seed, split, atomic, out / "runs" / f"{model}-recbole-{seed}.recbole.json",
                                    args.epochs, args.patience, args.stop_at)
                r["loadavg_before"] = load
                r["loadavg_after"] = os.getloadavg()
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(r, indent=2) + "\n")
                runs.append(r)
                print(f"{model} {side} seed {seed}: test HR@10 {r['masked']['test']['hit@10']:.4f} "
                      f"NDCG@10 {r['masked']['test']['ndcg@10']:.4f}, best epoch {r['best_epoch']}, "
                      f"{r['epoch_seconds']:.1f} s/epoch (load {load[0]:.1f})", flush=True)
    (out / "recbole.json").write_text(json.dumps({"bench": "recbole", "split": str(split), "epochs": args.epochs,
                                                  "patience": args.patience, "runs": runs}, indent=2) + "\n")
    md = table(runs)
    (out / "table.md").write_text(md + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
