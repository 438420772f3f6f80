"""Worker ops `train` and `rank` (registered in linkedout/worker/registry.py).

`train`: args = a training spec (schemas/protocol/ops/train.args.schema.json, linkedout.train.spec); streams
one progress message per epoch; result = the run summary.

`rank`: ranks one shard of a split's users with a finished run's best weights and writes an Arrow file in
the `ranks.arrow` format (docs/architecture.md). The model and catalogue embeddings are cached in the
worker's state, keyed by the checkpoint's path, size and mtime, so ranking many shards embeds once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from linkedout.model.config import ConfigError
from linkedout.store.token_store import TokenStoreError
from linkedout.protocol.op import FrameValue, Handler, OpContext, OpError, OpResult, torch_threads
from linkedout.protocol.op_args import RankArgs, TrainArgs

from .checkpoint import CheckpointError
from .data import DataError, EvalSplit
from .evaluate import catalogue_embeddings, rank_split
from .loop import train
from .outputs import ranks_table, write_table_atomic
from .spec import TrainSpec
from .trained import content_source, load_trained


def _clear_errors(fn: Handler) -> Handler:
    """Turn our one-line input errors into OpErrors (no traceback in the reply)."""

    def wrapped(args: dict[str, Any], frames: dict[str, FrameValue], ctx: OpContext) -> OpResult:
        try:
            return fn(args, frames, ctx)
        except ConfigError as err:
            raise OpError("ConfigInvalid", str(err)) from err
        except CheckpointError as err:
            raise OpError("CheckpointInvalid", str(err)) from err
        except (DataError, TokenStoreError) as err:
            raise OpError("DataInvalid", str(err)) from err

    wrapped.__doc__ = fn.__doc__
    return wrapped


@_clear_errors
def train_op(args: dict[str, Any], frames: dict[str, FrameValue], ctx: OpContext) -> OpResult:
    """Train (or resume) the run described by `args` (a TrainSpec)."""
    call = TrainArgs.from_json(args, "args")
    spec = TrainSpec.from_args(call)  # less `threads`: how to run this call, not the run
    device = ctx.device if spec.device == "auto" else torch.device(spec.device)
    with torch_threads(call.threads):
        summary = train(spec, device=device, progress=lambda done, total, message: ctx.progress(done, total, "epochs", message))
    return OpResult(result=summary)


@_clear_errors
def rank_op(args: dict[str, Any], frames: dict[str, FrameValue], ctx: OpContext) -> OpResult:
    """Rank users [shard] of `split` against the whole catalogue; write `out` (Arrow IPC file)."""
    call = RankArgs.from_json(args, "args")
    run_dir = Path(call.run_dir)
    best = run_dir / "best.pt"
    if not best.exists():
        raise OpError("NotFound", f"{best}: no trained weights (has the train op finished?)")
    stat = best.stat()
    key = ("rank", str(best.resolve()), stat.st_size, stat.st_mtime_ns, call.store)
    cached = ctx.state.get("rank_model")
    if cached is None or cached[0] != key:
        ctx.state.pop("rank_model", None)
        trained = load_trained(run_dir, ctx.device)
        z, _ = catalogue_embeddings(trained.model, content_source(trained, call.store), len(trained.catalogue),
                                    trained.spec.train.item_batch_size, ctx.device)
        cached = (key, trained, z)
        ctx.state["rank_model"] = cached
    _, trained, z = cached
    split_dir = Path(call.split_dir or trained.spec.split_dir)
    split = EvalSplit.read(split_dir / f"{call.split}.arrow", call.split, trained.catalogue)
    index, count = call.shard.index, call.shard.count
    if not 0 <= index < count:
        raise OpError("ArgsInvalid", f"args.shard.index: {index} is not in [0, {count})")
    size = -(-len(split) // count)
    start, stop = min(index * size, len(split)), min((index + 1) * size, len(split))
    topk = trained.spec.train.topk if call.topk is None else call.topk  # absent: the run's own
    batch_users = trained.spec.train.eval_batch_users if call.batch_users is None else call.batch_users
    ranks = rank_split(trained.model, z, split, topk, batch_users, start, stop)
    out = Path(call.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_table_atomic(out, ranks_table([ranks], trained.catalogue.items))
    ctx.progress(stop - start, stop - start, "users", f"ranked {call.split} users {start}..{stop}")
    return OpResult(result={"out": str(out), "users": stop - start, "start": start, "stop": stop,
                            "hr10": ranks.hit_rate(10), "ndcg10": ranks.ndcg(10)})


