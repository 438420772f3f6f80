"""The cluster work unit's inputs: one-line errors for bad ones, and the shard function of ts/data/shard.ts."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from linkedout.extract.work_unit import WorkUnitError, default_num_shards, load_job, read_items, shard_members, shard_of


def _items(path: Path, **cols: list[str]) -> Path:
    t = pa.table(cols)
    with pa.OSFile(str(path), "wb") as f, pa.ipc.new_file(f, t.schema) as w:
        w.write_table(t)
    return path


def test_bad_inputs_are_one_line_errors_naming_the_file_and_key(tmp_path: Path) -> None:
    cfg = tmp_path / "r.yaml"
    cfg.write_text("model:\n  path: ''\nextract:\n  frames: 4\n")
    with pytest.raises(WorkUnitError, match=r"r\.yaml: model\.path is empty .*lo-exp model tiny --out DIR"):
        load_job(cfg)
    cfg.write_text("model:\n  path: /m\nextract:\n  max_new_tokens: 1\n")
    with pytest.raises(WorkUnitError, match=r"r\.yaml: extract\.max_new_tokens: 1; must be >= 2"):
        load_job(cfg)
    cfg.write_text("name: x\n")
    with pytest.raises(WorkUnitError, match="no `model` and `extract` sections"):
        load_job(cfg)
    cfg.write_text("model:\n  path: /m\nextract:\n  frames: 4\n  shard_size: 5\n  engine: ray\nworkers:\n  threads: 3\n")
    job = load_job(cfg)  # orchestration keys (engine, shard_size, ...) are read, not passed to the extractor
    assert (job.settings.frames, job.shard_size, job.threads) == (4, 5, 3)
    with pytest.raises(WorkUnitError, match=r"items\.arrow: no column 'video'"):
        read_items(_items(tmp_path / "items.arrow", item=["a"]))
    with pytest.raises(WorkUnitError, match=r"row 1: item 'a' is empty or repeated"):
        read_items(_items(tmp_path / "dup.arrow", item=["a", "a"], video=["", ""]))


def test_shards_partition_the_items_like_the_orchestrator() -> None:
    ids = [f"item{i}" for i in range(50)] + ["é", "z"]
    n = default_num_shards(len(ids), 16)
    assert n == 4
    parts = [shard_members(ids, n, s) for s in range(n)]
    assert sorted(x for p in parts for x in p) == sorted(ids)  # each id in exactly one shard
    for s, p in enumerate(parts):
        assert p == sorted(p, key=lambda x: x.encode()) and all(shard_of(x, n) == s for x in p)
    # sha256("a") = ca978112ca1bbdca...: the first 8 bytes big-endian, mod n (ts/data/shard.ts shardOf)
    assert shard_of("a", 1000) == 0xCA978112CA1BBDCA % 1000
