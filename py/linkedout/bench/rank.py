"""`bench_rank_floor`: the bare cost of full-catalogue ranking, the floor `lo-exp bench scale` compares the rank stage with.

For `users` random user vectors against `items` random item vectors (d dims, float32), per batch of
`batch_users`: the scoring matmul, `torch.topk(k)` and the target's rank by one count
(`(scores > target score).sum()`), nothing else: no model, no masks, no tie rule, no files.
Run it on each worker of the pool at once with that worker's share of the users and the same threads
as the rank stage, and the slowest worker's wall time is the floor.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from linkedout.protocol.op import FrameValue, OpContext, OpResult, torch_threads


def rank_floor(users: int, items: int, d: int, k: int, batch_users: int, seed: int = 0) -> float:
    """Seconds for the bare matmul + top-k + target rank over `users` users, in batches."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(items, d, generator=gen)  # [items, d]
    zt = z.T.contiguous()
    started = time.perf_counter()
    for start in range(0, users, batch_users):
        n = min(batch_users, users - start)
        u = torch.randn(n, d, generator=gen)  # [n, d]
        targets = torch.randint(0, items, (n,), generator=gen)
        scores = u @ zt  # [n, items]
        torch.topk(scores, min(k, items), dim=1)
        target_score = scores.gather(1, targets[:, None])
        (scores > target_score).sum(1)
    return time.perf_counter() - started


def bench_rank_floor_op(args: dict[str, Any], frames: dict[str, FrameValue], ctx: OpContext) -> OpResult:
    """Time the bare ranking floor for args {users, items, d, k, batch_users, threads}."""
    with torch_threads(args.get("threads")):
        seconds = rank_floor(int(args["users"]), int(args["items"]), int(args["d"]), int(args.get("k", 20)),
                             int(args.get("batch_users", 1024)))
        threads = torch.get_num_threads()
    return OpResult({"seconds": seconds, "users": int(args["users"]), "items": int(args["items"]), "threads": threads})
