"""`python -m linkedout.cluster.ray_launcher`: the extraction's shards as Ray tasks, then finalize.

Run by ``lo-exp extract CONFIG --engine ray`` (ts/schedule/extract-ray.ts) as a subprocess; it
speaks JSON lines on stdout, one event per line:

    {"event": "start", "shards": N, "todo": n, "items": M, "cached_items": c, "cluster": {"CPU": .., "GPU": ..}}
    {"event": "progress", "shard": i, "done": d, "total": t, "pid": p, "host": h, "message": m}
    {"event": "retry", "shard": i, "pid": p, "host": h}      a shard restarted on another Ray worker
    {"event": "shard_done", "shard": i, ...the shard report}
    {"event": "finalized", "num_shards": N, "items": .., "failed": [...]}
    {"event": "error", "message": m}                           then exit status 1 (2: bad input)

Each shard is one Ray task running the same work unit as ``python -m linkedout.extract``
(``linkedout.extract.work_unit.run_shard``): one GPU per task when the cluster has GPUs, else
``--cpus-per-shard`` CPUs. A task whose worker process dies is re-run by Ray (``max_retries``); the
re-run resumes the shard's part files, and the fenced commit keeps a zombie attempt from committing
too. Application errors (a bad config, a broken store) are not retried: they fail the run.
``--address ""`` starts a private local Ray cluster (``--local-cpus``, a small object store, no
dashboard) and stops it at the end; ``--address auto`` joins a running one (``ray start --head``).
Ray is an optional extra: ``pip install 'linkedout[ray]'`` (py/pyproject.toml).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any


def _say(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def shards_with_parts(store: Path) -> set[int]:
    """Shards with part files (unfinished work), from one directory listing."""
    return {int(p.name.split(".")[0].split("-")[1]) for p in store.iterdir() if ".part-" in p.name and p.name.startswith("shard-")}


def shard_is_committed(store: Path, shard: int, ids: list[str], retry_failed: bool, with_parts: set[int]) -> bool:
    """The orchestrator's test (ts/schedule/extract.ts shardFinished): a summary covering exactly
    ``ids``, its shard file, and no part files newer than the commit."""
    if shard in with_parts:
        return False
    try:
        s = json.loads((store / f"shard-{shard}.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return False
    if not (store / f"shard-{shard}.arrow").exists() or (retry_failed and s["failed"]):
        return False
    return set(s["items"]) | {f["item"] for f in s["failed"]} == set(ids)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m linkedout.cluster.ray_launcher", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="resolved config (YAML/JSON): model, extract, workers.threads")
    p.add_argument("--items", required=True, help="the split's items.arrow")
    p.add_argument("--store", required=True, help="TokenStore directory, visible to every Ray node")
    p.add_argument("--key", required=True, help="store key")
    p.add_argument("--dataset", required=True, help="dataset identity")
    p.add_argument("--num-shards", type=int, default=0, help="default ceil(items / extract.shard_size)")
    p.add_argument("--address", default="", help='"" = a private local cluster; "auto" or ray://HOST:PORT = join one')
    p.add_argument("--max-retries", type=int, default=3, help="re-runs of a shard whose Ray worker died")
    p.add_argument("--gpus-per-shard", type=float, default=1.0, help="GPUs per task when the cluster has GPUs")
    p.add_argument("--cpus-per-shard", type=float, default=1.0, help="CPUs per task")
    p.add_argument("--local-cpus", type=int, default=2, help="CPUs of the private local cluster")
    p.add_argument("--object-store-mb", type=int, default=100, help="object store of the private local cluster")
    ns = p.parse_args(argv)

    from linkedout.extract.work_unit import WorkUnitError, default_num_shards, load_job, read_items, shard_members

    try:
        job = load_job(ns.config)
        items = read_items(ns.items)
    except WorkUnitError as e:
        _say({"event": "error", "message": str(e)})
        return 2
    try:
        import ray
    except ImportError:
        _say({"event": "error", "message": "Ray is not installed: pip install 'ray[default]' (or the linkedout[ray] extra; docs/cluster.md)"})
        return 2

    store = Path(ns.store)
    store.mkdir(parents=True, exist_ok=True)
    n = ns.num_shards or default_num_shards(len(items), job.shard_size)
    by_id = {it["item"]: it for it in items}
    members = [shard_members(list(by_id), n, i) for i in range(n)]
    with_parts = shards_with_parts(store)
    todo = [i for i in range(n) if members[i] and not shard_is_committed(store, i, members[i], job.retry_failed, with_parts)]

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # unwinds into ray.shutdown(): a private cluster does not outlive us

    signal.signal(signal.SIGTERM, on_term)
    started_here = ns.address == ""
    try:
        if started_here:
            ray.init(num_cpus=ns.local_cpus, include_dashboard=False, object_store_memory=ns.object_store_mb << 20,
                     log_to_driver=False, configure_logging=False)
        else:
            ray.init(address=ns.address, log_to_driver=False, configure_logging=False)
        res = ray.cluster_resources()
        gpus = ns.gpus_per_shard if res.get("GPU", 0) > 0 else 0.0
        cached_items = sum(len(members[i]) for i in range(n) if i not in todo)
        _say({"event": "start", "shards": n, "todo": len(todo), "items": len(items), "cached_items": cached_items,
              "cluster": {k: res[k] for k in ("CPU", "GPU") if k in res}, "gpus_per_shard": gpus})

        @ray.remote(num_cpus=0)
        class Events:
            """Progress from the tasks to the driver (fire-and-forget pushes, drained by polling)."""

            def __init__(self) -> None:
                self.q: list[dict[str, Any]] = []

            def push(self, ev: dict[str, Any]) -> None:
                self.q.append(ev)

            def drain(self) -> list[dict[str, Any]]:
                out, self.q = self.q, []
                return out

        def shard_task(shard: int, shard_items: list[dict[str, Any]], events: Any) -> dict[str, Any]:
            import torch

            from linkedout.extract.work_unit import run_shard
            from linkedout.store.token_store import ShardCommitConflict

            torch.set_num_threads(job.threads)
            device = "cuda" if ray.get_gpu_ids() else "cpu"  # Ray sets CUDA_VISIBLE_DEVICES per task
            me = {"pid": os.getpid(), "host": socket.gethostname()}
            events.push.remote({"event": "task_start", "shard": shard, **me})

            def progress(done: int, total: int, msg: str) -> None:
                events.push.remote({"event": "progress", "shard": shard, "done": done, "total": total, **me,
                                    "message": f"{msg} (ray worker pid {me['pid']}@{me['host']})"})

            try:
                report = run_shard(job, shard_items, ns.store, shard, n, ns.key, ns.dataset, device=device, progress=progress)
            except ShardCommitConflict as e:  # another attempt committed it: the shard is done
                return {"shard": shard, "conflict": str(e), **me}
            return {**report.to_json(), **me}

        task = ray.remote(shard_task).options(num_cpus=ns.cpus_per_shard, num_gpus=gpus, max_retries=ns.max_retries,
                                              retry_exceptions=False)
        events = Events.remote()  # type: ignore[attr-defined]
        pending = {task.remote(i, [by_id[x] for x in members[i]], events): i for i in todo}
        started: dict[int, int] = {}
        failure: str | None = None

        def forward() -> None:
            for ev in ray.get(events.drain.remote()):
                if ev["event"] == "task_start":
                    if ev["shard"] in started:
                        _say({"event": "retry", "shard": ev["shard"], "pid": ev["pid"], "host": ev["host"],
                              "previous_pid": started[ev["shard"]]})
                    started[ev["shard"]] = ev["pid"]
                else:
                    _say(ev)

        while pending and failure is None:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.1)
            forward()
            for ref in ready:
                shard = pending.pop(ref)
                try:
                    _say({"event": "shard_done", **ray.get(ref)})
                except Exception as e:  # noqa: BLE001 - a task error or exhausted retries: report it and stop
                    failure = f"shard {shard}: {str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__}"
        forward()
        if failure is not None:
            for ref in pending:
                ray.cancel(ref, force=True)
            _say({"event": "error", "message": failure})
            return 1

        from linkedout.store.token_store import TokenStoreError, finalize_store

        try:
            m = finalize_store(store, list(by_id))
        except TokenStoreError as e:
            _say({"event": "error", "message": f"finalize: {e}"})
            return 1
        _say({"event": "finalized", "num_shards": m["num_shards"], "items": m["items"], "failed": m["failed"]})
        return 0
    except KeyboardInterrupt:
        _say({"event": "error", "message": "interrupted; committed shards and part files are kept, rerun to resume"})
        return 130
    finally:
        if ray.is_initialized():
            ray.shutdown()


if __name__ == "__main__":
    sys.exit(main())
