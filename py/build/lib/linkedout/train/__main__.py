"""Train a LinkedOut recommender from a spec file (paper §4.3).

One process (CPU or one GPU):

    .venv/bin/python -m linkedout.train --spec runs/x/spec.json

Several GPUs on one machine (DDP over NCCL; the global batch `train.batch_size` is split across ranks):

    .venv/bin/torchrun --standalone --nproc_per_node 8 -m linkedout.train --spec runs/x/spec.json

Several CPU processes (DDP over gloo; tests use this):

    .venv/bin/torchrun --standalone --nproc_per_node 2 -m linkedout.train --spec spec.json --device cpu

Several machines: the same torchrun line on each with `--nnodes N --node_rank i --rdzv_endpoint host:port`.

The spec is JSON (see `linkedout.train.spec.TrainSpec`): {"run_dir", "split_dir", "store", "recommender": {...},
"train": {...}, "resume", "stop_after_epoch", "write_ranks", "device"}. Rerunning the same command resumes
from run_dir/checkpoint.pt. Rank 0 prints one JSON line per epoch, {"epoch": e, "epochs": E, "message": "..."},
and, last, the run summary as one JSON object (what the `train` op returns). Exit status 2 = bad spec, data
or checkpoint (one line on stderr naming the file and field).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace

from linkedout.model.config import ConfigError

from .checkpoint import CheckpointError
from .data import DataError
from .loop import train
from .spec import TrainSpec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m linkedout.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", required=True, help="training spec JSON file")
    parser.add_argument("--device", default=None, help="override spec.device (auto | cpu | cuda | cuda:N)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads per process")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    is_rank0 = int(os.environ.get("RANK", "0")) == 0
    try:
        spec = TrainSpec.read(args.spec)
        if args.device:
            spec = replace(spec, device=args.device)

        def progress(done: int, total: int | None, message: str) -> None:
            if is_rank0:
                print(json.dumps({"epoch": done, "epochs": total, "message": message}), flush=True)

        summary = train(spec, progress=progress)
    except (ConfigError, CheckpointError, DataError) as err:
        print(f"linkedout.train: {err}", file=sys.stderr)
        return 2
    if is_rank0:
        print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
