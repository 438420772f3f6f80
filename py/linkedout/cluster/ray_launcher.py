"""`python -m linkedout.cluster.ray_launcher`: the extraction's shards on Ray actors, then finalize.

Run by ``lo-exp extract CONFIG --engine ray`` (ts/schedule/extract-ray.ts) as a subprocess; it
speaks JSON lines on stdout, one event per line:

    {"event": "start", "shards": N, "todo": n, "items": M, "cached_items": c, "cluster": {"CPU": .., "GPU": ..},
     "gpus_per_shard": g, "actors": a}
    {"event": "progress", "shard": i, "done": d, "total": t, "pid": p, "host": h, "message": m}
    {"event": "retry", "shard": i, "pid": p, "host": h, "previous_pid": q}   a shard restarted on a new actor
    {"event": "shard_done", "shard": i, ...the shard report, "pid": p, "host": h, "backbone_loaded": bool}
    {"event": "finalized", "num_shards": N, "items": .., "failed": [...]}
    {"event": "error", "message": m}                           then exit status 1 (2: bad input)

One actor per GPU (``--gpus-per-shard`` each; ``--cpus-per-shard`` CPUs each on a CPU-only cluster),
as many as the cluster's resources hold (``ray.cluster_resources()``) and the unfinished shards need.
An actor is one process for its whole life, so the GPU Ray gave it (``CUDA_VISIBLE_DEVICES``) never
moves under it: it loads the backbone once, on its first shard, and then pulls shards from the driver
one at a time, each running the same work unit as ``python -m linkedout.extract``
(``linkedout.extract.work_unit.run_shard``). An actor whose process or node dies is replaced by a fresh
one and its shard goes back to the queue (at most ``--max-retries`` times per shard); the re-run resumes
the shard's part files, and the fenced commit keeps a zombie attempt from committing too. Application
errors (a bad config, a broken store, a GPU torch cannot use) are not retried: they fail the run.
``--address ""`` starts a private local Ray cluster (this host's CPUs and GPUs, or ``--local-cpus``; a
small object store, no dashboard) and stops it at the end; ``--address auto`` joins a running one.
Ray is an optional extra: ``pip install 'linkedout[ray]'`` (py/pyproject.toml).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import socket
import sys
from collections import deque
from pathlib import Path
from typing import Any


def _say(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def actor_count(resources: dict[str, float], gpus_per_shard: float, cpus_per_shard: float, shards: int) -> int:
    """Actors the cluster holds at once: one per ``gpus_per_shard`` GPUs (or ``cpus_per_shard`` CPUs on a
    CPU-only cluster), no more than the CPUs allow and the shards need. 0 when not even one fits."""
    fits = [math.floor(resources.get("CPU", 0.0) / cpus_per_shard + 1e-9)] if cpus_per_shard > 0 else []
    if gpus_per_shard > 0:
        fits.append(math.floor(resources.get("GPU", 0.0) / gpus_per_shard + 1e-9))
    return min([shards, *fits])


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
    p.add_argument("--max-retries", type=int, default=3, help="re-runs of a shard whose Ray actor died")
    p.add_argument("--gpus-per-shard", type=float, default=1.0, help="GPUs per actor when the cluster has GPUs")
    p.add_argument("--cpus-per-shard", type=float, default=1.0, help="CPUs per actor")
    p.add_argument("--local-cpus", type=int, default=0, help="CPUs of the private local cluster (0: all of this host's)")
    p.add_argument("--local-gpus", type=int, default=-1,
                   help="GPUs the private local cluster offers (-1: the host's, as Ray detects them; CUDA_VISIBLE_DEVICES narrows them)")
    p.add_argument("--object-store-mb", type=int, default=100, help="object store of the private local cluster")
    ns = p.parse_args(argv)

    from linkedout.extract.work_unit import (
        WorkUnitError,
        committed_summary,
        default_num_shards,
        load_job,
        read_items,
        shard_members,
        shards_with_parts,
    )

    try:
        job = load_job(ns.config)
        items = read_items(ns.items)
    except WorkUnitError as e:
        _say({"event": "error", "message": str(e)})
        return 2
    try:
        import ray
        from ray.exceptions import RayActorError, WorkerCrashedError
    except ImportError:
        _say({"event": "error", "message": "Ray is not installed: pip install 'ray[default]' (or the linkedout[ray] extra; docs/cluster.md)"})
        return 2

    store = Path(ns.store)
    store.mkdir(parents=True, exist_ok=True)
    n = ns.num_shards or default_num_shards(len(items), job.shard_size)
    by_id = {it["item"]: it for it in items}
    members = [shard_members(list(by_id), n, i) for i in range(n)]
    with_parts = shards_with_parts(store)
    todo = [i for i in range(n) if members[i] and committed_summary(store, i, members[i], job.retry_failed, with_parts) is None]

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # unwinds into ray.shutdown(): a private cluster does not outlive us

    signal.signal(signal.SIGTERM, on_term)
    started_here = ns.address == ""
    try:
        if started_here:
            ray.init(num_cpus=ns.local_cpus or None, num_gpus=None if ns.local_gpus < 0 else ns.local_gpus,
                     include_dashboard=False, object_store_memory=ns.object_store_mb << 20, log_to_driver=False, configure_logging=False)
        else:
            ray.init(address=ns.address, log_to_driver=False, configure_logging=False)
        res = ray.cluster_resources()
        gpus = ns.gpus_per_shard if res.get("GPU", 0) > 0 else 0.0
        cpus = ns.cpus_per_shard
        actors_wanted = actor_count(res, gpus, cpus, len(todo))
        if todo and actors_wanted == 0:
            _say({"event": "error", "message": f"extract.ray: one actor needs {gpus:g} GPU(s) and {cpus:g} CPU(s) (gpus_per_shard, "
                                               f"cpus_per_shard); the cluster has {res.get('GPU', 0):g} GPU(s) and {res.get('CPU', 0):g} CPU(s)"})
            return 2
        cached_items = sum(len(members[i]) for i in range(n) if i not in todo)
        _say({"event": "start", "shards": n, "todo": len(todo), "items": len(items), "cached_items": cached_items,
              "cluster": {k: res[k] for k in ("CPU", "GPU") if k in res}, "gpus_per_shard": gpus, "actors": actors_wanted})

        @ray.remote(num_cpus=0)
        class Events:
            """Progress from the actors to the driver (fire-and-forget pushes, drained by polling)."""

            def __init__(self) -> None:
                self.q: list[dict[str, Any]] = []

            def push(self, ev: dict[str, Any]) -> None:
                self.q.append(ev)

            def drain(self) -> list[dict[str, Any]]:
                out, self.q = self.q, []
                return out

        @ray.remote(max_restarts=0, max_task_retries=0)
        class ShardRunner:
            """One process holding one GPU (or its CPUs) for life: the backbone is loaded on the first shard
            and reused for every later one; the driver hands it shards one at a time."""

            def __init__(self, events: Any) -> None:
                import torch

                torch.set_num_threads(job.threads)
                self.events = events
                self.device: str | None = None
                self.me = {"pid": os.getpid(), "host": socket.gethostname()}

            def run(self, shard: int, shard_items: list[dict[str, Any]]) -> dict[str, Any]:
                from linkedout.extract.device import DeviceError, resolve_device
                from linkedout.extract.work_unit import backbone_loaded, run_shard
                from linkedout.store.token_store import ShardCommitConflict

                me, events = self.me, self.events
                if self.device is None:  # Ray set CUDA_VISIBLE_DEVICES for this actor's process at its start
                    try:
                        self.device = resolve_device("cuda", f"Ray actor pid {me['pid']}@{me['host']}",
                                                     "extract.ray.gpus_per_shard: 0 runs on CPUs on purpose") if ray.get_gpu_ids() else "cpu"
                    except DeviceError as e:  # the node's GPU is unusable: stop the run, naming it
                        return {"shard": shard, "error": str(e), **me}
                events.push.remote({"event": "task_start", "shard": shard, **me})

                def progress(done: int, total: int, msg: str) -> None:
                    events.push.remote({"event": "progress", "shard": shard, "done": done, "total": total, **me,
                                        "message": f"{msg} (ray worker pid {me['pid']}@{me['host']})"})

                had = backbone_loaded(job, self.device)
                try:
                    report = run_shard(job, shard_items, ns.store, shard, n, ns.key, ns.dataset, device=self.device, progress=progress)
                except ShardCommitConflict as e:  # another attempt committed it: the shard is done
                    return {"shard": shard, "conflict": str(e), **me}
                return {**report.to_json(), **me, "backbone_loaded": backbone_loaded(job, self.device) and not had}

        events = Events.remote()  # type: ignore[attr-defined]

        def new_actor() -> Any:
            return ShardRunner.options(num_cpus=cpus, num_gpus=gpus).remote(events)  # type: ignore[attr-defined]

        queue = deque(todo)
        idle = [new_actor() for _ in range(actors_wanted)]
        running: dict[Any, tuple[int, Any]] = {}
        deaths: dict[int, int] = {}
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

        while (queue or running) and failure is None:
            while idle and queue:  # each free actor pulls the next shard
                actor, shard = idle.pop(), queue.popleft()
                running[actor.run.remote(shard, [by_id[x] for x in members[shard]])] = (shard, actor)
            ready, _ = ray.wait(list(running), num_returns=1, timeout=0.1)
            forward()
            for ref in ready:
                shard, actor = running.pop(ref)
                try:
                    result = ray.get(ref)
                except (RayActorError, WorkerCrashedError) as e:  # the actor's process or node died (or is unreachable)
                    ray.kill(actor)  # one that is only unreachable must not keep its GPU from the replacement
                    deaths[shard] = deaths.get(shard, 0) + 1
                    if deaths[shard] > ns.max_retries:
                        why = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
                        failure = f"shard {shard}: its Ray actor died {deaths[shard]} times (extract.ray.max_retries {ns.max_retries}): {why}"
                        break
                    queue.appendleft(shard)  # the next attempt resumes the part files it wrote
                    idle.append(new_actor())
                    continue
                except Exception as e:  # noqa: BLE001 - an application error: report it and stop
                    failure = f"shard {shard}: {str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__}"
                    break
                if "error" in result:
                    failure = f"shard {shard}: {result['error']}"
                    break
                _say({"event": "shard_done", **result})
                idle.append(actor)
        forward()
        if failure is not None:
            for _, actor in running.values():  # actor tasks cannot be force-cancelled: stop their process
                ray.kill(actor)
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
