"""Fenced shard commits (two writers of one shard: one commit) and the store's one-time finalize."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from linkedout.store.token_store import ShardCommitConflict, TokenStore, TokenStoreError, TokenStoreWriter, finalize_store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_token_store import random_batch, settings  # noqa: E402


def test_a_duplicate_writer_of_one_shard_is_refused(tmp_path: Path) -> None:
    s = settings()
    first = TokenStoreWriter(tmp_path / "st", s).shard(0, 1)
    dup = TokenStoreWriter(tmp_path / "st", s).shard(0, 1)  # e.g. a partitioned worker and its retry
    assert first.attempt != dup.attempt
    first.write_part(random_batch(s, ["a"]))
    dup.write_part(random_batch(s, ["a", "b"]))  # both write parts; neither overwrites the other's
    assert len(list((tmp_path / "st").glob("shard-0.part-*.arrow"))) == 2
    first.write_part(random_batch(s, ["b"]))
    first.finalize(["a", "b"], rebuild_manifest=False)
    committed = (tmp_path / "st" / "shard-0.arrow").read_bytes()
    late = dup.write_part(random_batch(s, ["b"]))  # still running after the other committed
    with pytest.raises(ShardCommitConflict, match="refused"):
        dup.finalize(["a", "b"], rebuild_manifest=False)
    assert not late.exists()  # the refused attempt's parts are gone
    assert (tmp_path / "st" / "shard-0.arrow").read_bytes() == committed
    assert json.loads((tmp_path / "st" / "shard-0.json").read_text())["attempt"] == first.attempt
    # a writer that starts after the commit (a rerun) may commit again
    TokenStoreWriter(tmp_path / "st", s).shard(0, 1).finalize(["a", "b"], rebuild_manifest=False)
    assert (tmp_path / "st" / "shard-0.arrow").read_bytes() == committed
    finalize_store(tmp_path / "st", ["a", "b"])
    assert TokenStore.open(tmp_path / "st", verify=True).items == ["a", "b"]


def test_duplicate_writer_processes_only_one_commits(tmp_path: Path) -> None:
    """Two processes start one shard before either commits; both try to commit: exactly one wins."""
    code = f"""
import sys, time
sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
from test_token_store import settings, random_batch
from linkedout.store.token_store import TokenStoreWriter, ShardCommitConflict
s = settings()
w = TokenStoreWriter({str(tmp_path / 'st')!r}, s).shard(1, 2)
w.write_part(random_batch(s, ["x"]))
open({str(tmp_path)!r} + "/started-" + sys.argv[1], "w").close()
while len(__import__("glob").glob({str(tmp_path)!r} + "/started-*")) < 2:
    time.sleep(0.05)
try:
    w.finalize(["x"], rebuild_manifest=False)
    print("committed")
except ShardCommitConflict as e:
    print("refused", e)
"""
    env = {**os.environ, "PYTHONPATH": "py"}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(i)], env=env, stdout=subprocess.PIPE, text=True) for i in range(2)]
    outs = sorted(p.communicate(timeout=120)[0].split()[0] for p in procs)
    assert outs == ["committed", "refused"]
    assert not list((tmp_path / "st").glob("shard-1.part-*"))


def test_finalize_store_checks_every_shard_and_item_once(tmp_path: Path) -> None:
    s = settings()
    tw = TokenStoreWriter(tmp_path / "st", s)
    w0 = tw.shard(0, 3)
    w0.write_part(random_batch(s, ["a"]))
    w0.finalize(["a"], rebuild_manifest=False)
    with pytest.raises(TokenStoreError, match=r"2 of 3 shards not finished, e.g. shard 1; rerun the same `lo-exp run …` or `lo-exp extract …` command"):
        finalize_store(tmp_path / "st")
    w1 = tw.shard(1, 3)
    w1.write_part(random_batch(s, ["b"]))
    w1.finalize(["b"], rebuild_manifest=False)
    w2 = tw.shard(2, 3)
    w2.write_part(random_batch(s, ["a"]))
    w2.finalize(["a"], rebuild_manifest=False)
    with pytest.raises(TokenStoreError, match="item 'a' is in shard 0 and shard 2"):
        finalize_store(tmp_path / "st")
    w2 = tw.shard(2, 3)
    w2.write_part(random_batch(s, ["c"]))
    w2.finalize(["c"], rebuild_manifest=False)
    assert not (tmp_path / "st" / "manifest.json").exists()  # shard commits never touch the manifest
    with pytest.raises(TokenStoreError, match="neither extracted nor failed, e.g. 'd'"):
        finalize_store(tmp_path / "st", ["a", "b", "c", "d"])
    m = finalize_store(tmp_path / "st", ["a", "b", "c"])
    assert m["complete"] and m["num_shards"] == 3 and m["items"] == 3
    assert TokenStore.open(tmp_path / "st").items == ["a", "b", "c"]


def test_finalize_commits_a_shard_the_hash_left_empty(tmp_path: Path) -> None:
    """Issue 22: 30 items in 10 shards can leave a shard with no item; it commits as empty and the
    store finishes (before, finalize_store refused it forever)."""
    s = settings()
    tw = TokenStoreWriter(tmp_path / "st", s)
    for i, its in ((0, ["a"]), (2, ["b", "c"])):
        w = tw.shard(i, 3)
        w.write_part(random_batch(s, its))
        w.finalize(its, rebuild_manifest=False)
    with pytest.raises(TokenStoreError, match="1 of 3 shards not finished, e.g. shard 1;"):
        finalize_store(tmp_path / "st", ["a", "b", "c", "d"])  # d is not anywhere: shard 1 is not empty, only unfinished
    assert not (tmp_path / "st" / "shard-1.json").exists()
    m = finalize_store(tmp_path / "st", ["a", "b", "c"])
    assert m["complete"] and m["num_shards"] == 3 and m["items"] == 3
    empty = json.loads((tmp_path / "st" / "shard-1.json").read_text())
    assert empty["rows"] == 0 and empty["items"] == [] and empty["failed"] == [] and empty["num_shards"] == 3
    store = TokenStore.open(tmp_path / "st")
    assert store.items == ["a", "b", "c"]
    # finalizing again (a rerun) reads the empty commit like any other
    assert finalize_store(tmp_path / "st", ["a", "b", "c"])["complete"]
