"""`python -m linkedout.extract`: one shard of the extraction, or the store's finalize (docs/cluster.md).

    python -m linkedout.extract --config RESOLVED.yaml --items items.arrow --store DIR --shard I --of N
    python -m linkedout.extract finalize --store DIR [--items items.arrow]

A shard run extracts exactly shard I of N (resuming its part files) and commits it; rerunning a
finished shard does nothing. Exit status: 0 done, 2 bad input or a GPU asked for that torch cannot use
(one line on stderr), 3 refused because another writer committed this shard meanwhile (its commit is
kept), 1 anything else.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any


def _emit(as_json: bool, event: dict[str, Any], line: str) -> None:
    if as_json:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()
    else:
        sys.stderr.write(line + "\n")


def _finalize(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m linkedout.extract finalize", description="Build manifest.json once every shard is committed")
    p.add_argument("--store", required=True, help="the TokenStore directory")
    p.add_argument("--items", help="items.arrow: check every item is present exactly once (extracted or failed)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON line")
    ns = p.parse_args(argv)
    from ..store.token_store import TokenStoreError, finalize_store
    from .work_unit import WorkUnitError, read_items

    try:
        items = [it["item"] for it in read_items(ns.items)] if ns.items else None
        m = finalize_store(ns.store, items)
    except (TokenStoreError, WorkUnitError) as e:
        sys.stderr.write(f"linkedout.extract finalize: {e}\n")
        return 2
    out = {"event": "finalized", "store": ns.store, "num_shards": m["num_shards"], "items": m["items"], "failed": len(m["failed"])}
    _emit(ns.json, out, f"{ns.store}: {m['num_shards']} shards, {m['items']} items, {len(m['failed'])} failed")
    return 0


def _shard(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m linkedout.extract", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="resolved config (lo-exp config show CONFIG > RESOLVED.yaml)")
    p.add_argument("--items", required=True, help="the split's items.arrow")
    p.add_argument("--store", required=True, help="the TokenStore directory (shared by all shards)")
    p.add_argument("--shard", type=int, required=True, help="0-based shard index (e.g. $SLURM_ARRAY_TASK_ID)")
    p.add_argument("--of", type=int, default=0, help="number of shards (default: ceil(items / extract.shard_size), as the orchestrator)")
    p.add_argument("--key", default="", help="store key (default: the existing store's, else a hash of the inputs)")
    p.add_argument("--dataset", default="", help="dataset identity in the manifest (default: the existing store's, else a hash of items.arrow)")
    p.add_argument("--device", default="auto", help="auto (the GPU if this host has one), cpu, cuda or cuda:N; a GPU asked for but unusable stops the job")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: workers.threads of the config)")
    p.add_argument("--json", action="store_true", help="progress and the result as JSON lines on stdout")
    ns = p.parse_args(argv)
    from .work_unit import WorkUnitError, default_num_shards, load_job, read_items, store_identity

    try:
        job = load_job(ns.config)
        items = read_items(ns.items)
    except WorkUnitError as e:
        sys.stderr.write(f"linkedout.extract: {e}\n")
        return 2
    threads = ns.threads or job.threads
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, str(threads))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(threads)
    from .device import DeviceError, resolve_device

    try:
        device = resolve_device(ns.device)
    except DeviceError as e:
        sys.stderr.write(f"linkedout.extract: {e}\n")
        return 2
    from ..store.token_store import ShardCommitConflict, TokenStoreError
    from .work_unit import run_shard

    num_shards = ns.of or default_num_shards(len(items), job.shard_size)
    try:
        key, dataset = store_identity(ns.store, job, ns.items)
        key, dataset = ns.key or key, ns.dataset or dataset

        def progress(done: int, total: int, msg: str) -> None:
            _emit(ns.json, {"event": "progress", "shard": ns.shard, "done": done, "total": total, "pid": os.getpid(), "message": msg}, msg)

        report = run_shard(job, items, ns.store, ns.shard, num_shards, key, dataset, device=device, progress=progress)
    except ShardCommitConflict as e:
        sys.stderr.write(f"linkedout.extract: {e}\n")
        return 3
    except (TokenStoreError, WorkUnitError) as e:
        sys.stderr.write(f"linkedout.extract: {e}\n")
        return 2
    r = report.to_json()
    _emit(ns.json, {"event": "shard_done", **r}, f"shard {ns.shard}/{num_shards}: {r['extracted']} extracted, {r['skipped']} already done, {len(r['failed'])} failed")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["finalize"]:
        return _finalize(args[1:])
    return _shard(args)


if __name__ == "__main__":
    sys.exit(main())
