"""linkedout.util.atomic: writers that share a process id (Kubernetes pods are all PID 1) never collide."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from linkedout.store.token_store import StoreSettings, TokenStoreWriter
from linkedout.util.atomic import create_atomic, temp_path, write_atomic, write_json_atomic

WRITERS = 4
TRIALS = 150


def _settings() -> StoreSettings:
    return StoreSettings(
        key="k1", model="tiny", dataset="synthetic", taps=(1, 3), num_layers=4, d_model=8,
        merged_tokens=3, new_tokens=2, max_new_tokens=3, prompts=("describe", "topic"), frames=4,
    )


def _writer(root: str, who: int, barrier: Any, errors: Any) -> None:
    """One pod: its process id is 1, as every pod's is; each trial starts at the same moment in all."""
    os.getpid = lambda: 1  # type: ignore[assignment]  # this process only (forked)
    settings = _settings()
    for trial in range(TRIALS):
        barrier.wait()
        store = Path(root) / f"trial-{trial}"
        try:
            TokenStoreWriter(store, settings)  # creates settings.json once (create-if-absent)
            write_json_atomic(store / "shared.json", {"writer": who, "trial": trial})  # last rename wins
        except Exception as e:  # noqa: BLE001 - every failure is what the test counts
            errors.put(f"trial {trial} writer {who}: {type(e).__name__}: {e}")


def test_writers_sharing_one_pid_never_collide(tmp_path: Path) -> None:
    ctx = mp.get_context("fork")  # the children share this process's imports: no torch import per writer
    barrier, errors = ctx.Barrier(WRITERS), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, barrier, errors)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=600)
    assert [p.exitcode for p in procs] == [0] * WRITERS
    seen = []
    while not errors.empty():
        seen.append(errors.get())
    assert seen == []
    for trial in range(TRIALS):
        store = tmp_path / f"trial-{trial}"
        assert json.loads((store / "settings.json").read_text()) == _settings().to_json()
        assert json.loads((store / "shared.json").read_text())["trial"] == trial
        assert sorted(p.name for p in store.iterdir()) == ["settings.json", "shared.json"]  # no temp file left behind


def test_temp_names_differ_between_threads_and_calls_of_one_process(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    names: list[Path] = []
    threads = [threading.Thread(target=lambda: names.extend(temp_path(target) for _ in range(50))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(names)) == 200
    assert all(n.parent == tmp_path and n.name.startswith(".f.json.") and n.name.endswith(".tmp") for n in names)


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old\n")

    def half_then_fail(tmp: Path) -> None:
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic(target, half_then_fail)
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_create_atomic_keeps_the_first_file(tmp_path: Path) -> None:
    target = tmp_path / "settings.json"
    assert create_atomic(target, lambda tmp: tmp.write_text("first\n")) is True
    assert create_atomic(target, lambda tmp: tmp.write_text("second\n")) is False
    assert target.read_text() == "first\n"
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]
