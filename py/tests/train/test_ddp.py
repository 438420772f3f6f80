"""DDP on 2 CPU processes (gloo, torchrun) equals one process with the same global batch; ranks decide together."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from linkedout.train.loop import build_model, train
from linkedout.train.spec import TrainSpec
from linkedout.util.arrow import read_arrow


def test_two_gloo_processes_match_one_process(tiny_data: Any, tmp_path: Path) -> None:
    # dropout 0: dropout masks are per-rank random streams and would differ by design
    rec = {"dropout": 0.0, "item_id_embeddings": True, "moe": {"top_k": 2, "expert_hidden": 16, "gate_hidden": 8}}
    one = tiny_data.spec(tmp_path / "one", rec, epochs=2, batch_size=10)  # 24 users: batches of 10, 10, 4
    two = tiny_data.spec(tmp_path / "two", rec, epochs=2, batch_size=10)
    torch.set_num_threads(1)
    (tmp_path / "one-summary.json").write_text(json.dumps(train(TrainSpec.from_json(one))))
    spec_file = tmp_path / "two.json"
    spec_file.write_text(json.dumps(two))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "linkedout.train", "--spec", str(spec_file), "--device", "cpu", "--threads", "1"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(line) for line in proc.stdout.strip().splitlines()]
    assert [(m["epoch"], m["epochs"]) for m in lines[:-1]] == [(1, 2), (2, 2)]  # rank 0 only: one line per epoch
    one_summary = json.loads((tmp_path / "one-summary.json").read_text())
    assert lines[-1]["world_size"] == 2 and lines[-1]["epochs_done"] == 2
    assert lines[-1]["feature_cache"] == one_summary["feature_cache"] == "device"  # each rank holds the (CPU) cache
    # validation sharded over the ranks (each embeds half the catalogue and ranks half the users): the
    # same figures, the same best epoch and the same ranks as one process
    assert lines[-1]["best_epoch"] == one_summary["best_epoch"] and lines[-1]["best_valid"] == one_summary["best_valid"]
    epochs1, epochs2 = read_arrow(tmp_path / "one" / "epochs.arrow"), read_arrow(tmp_path / "two" / "epochs.arrow")
    assert epochs2.drop(["seconds", "train_loss"]).equals(epochs1.drop(["seconds", "train_loss"]))
    assert read_arrow(tmp_path / "two" / "ranks.arrow").column("rank").equals(read_arrow(tmp_path / "one" / "ranks.arrow").column("rank"))

    log1, log2 = read_arrow(tmp_path / "one" / "train_log.arrow"), read_arrow(tmp_path / "two" / "train_log.arrow")
    assert log1.num_rows == log2.num_rows == 6
    for column in ("loss", "ce", "align", "uniformity", "load_balance", "grad_norm"):
        torch.testing.assert_close(torch.tensor(log2.column(column).to_pylist()), torch.tensor(log1.column(column).to_pylist()),
                                   rtol=1e-4, atol=1e-5, msg=column)
    w1 = torch.load(tmp_path / "one" / "checkpoint.pt", weights_only=True)["model"]
    w2 = torch.load(tmp_path / "two" / "checkpoint.pt", weights_only=True)["model"]
    for name in w1:
        torch.testing.assert_close(w2[name], w1[name], rtol=1e-3, atol=1e-4, msg=name)
    # the weights did move, so the comparison is not between two untouched initialisations
    payload = torch.load(tmp_path / "one" / "checkpoint.pt", weights_only=True)
    spec = TrainSpec.from_json(one)
    init = build_model(spec.recommender, payload["shapes"], spec.train.seed).state_dict()
    moved = [name for name in w1 if not torch.allclose(init[name], w1[name], atol=1e-3)]
    assert len(moved) > len(w1) // 2


# Each rank sees a validation figure of its own (rank 1's better by 1e-12 every epoch), as ranks whose
# figures differ in the last bit would. Deciding alone, rank 0 would stop after epoch 3 (patience 2) and
# rank 1 would go on into the next epoch's collective and wait there forever; with rank 0 deciding for
# both they keep the same best epoch and stop together. A hang shows as the subprocess timeout.
DIVERGING_RANKS = """
import json, sys
import torch
from linkedout.train.loop import DistContext, RunState
dctx = DistContext.from_env("cpu")
state, epochs_run = RunState(), 0
for epoch in range(8):
    if state.stops_early(2):
        break
    torch.manual_seed(0)
    dctx.gather_chunks(torch.zeros(3, 2), 6)  # the collectives of an epoch's validation
    state.record(epoch, 0.5 + dctx.rank * epoch * 1e-12, dctx)
    epochs_run += 1
# one file per rank: two ranks printing to one pipe can interleave their lines
with open(f"{sys.argv[1]}/rank-{dctx.rank}.json", "w") as f:
    json.dump({"rank": dctx.rank, "epochs": epochs_run, "best_epoch": state.best_epoch, "best": state.best_value}, f)
torch.distributed.destroy_process_group()
"""


def test_ranks_whose_figures_differ_still_agree_and_stop_together(tmp_path: Path) -> None:
    script = tmp_path / "diverging.py"
    script.write_text(DIVERGING_RANKS)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script), str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    by_rank = {r["rank"]: r for r in (json.loads((tmp_path / f"rank-{k}.json").read_text()) for k in (0, 1))}
    # rank 0's own figures: 0.5 every epoch -> best epoch 0, two epochs without improvement, stop after 3
    assert by_rank[0] == {"rank": 0, "epochs": 3, "best_epoch": 0, "best": 0.5}
    assert by_rank[1] == {**by_rank[0], "rank": 1}
