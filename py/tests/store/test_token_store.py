"""TokenStore writer/reader: round trip of fp16/bf16 bits, resumable parts, failures, manifest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
import torch

from linkedout.store.token_store import (
    Failure,
    FeatureBatch,
    StoreSettings,
    TokenStore,
    TokenStoreError,
    TokenStoreWriter,
    write_token_store,
)


def settings(dtype: str = "bfloat16", **kw) -> StoreSettings:
    base = dict(
        key="k1", model="tiny", dataset="synthetic", taps=(1, 3), num_layers=4, d_model=8,
        merged_tokens=3, new_tokens=2, max_new_tokens=3, prompts=("describe", "topic"), frames=4, dtype=dtype,
    )
    base.update(kw)
    return StoreSettings(**base)  # type: ignore[arg-type]


def random_batch(s: StoreSettings, items: list[str], seed: int = 0) -> FeatureBatch:
    g = torch.Generator().manual_seed(seed)
    rows = [(it, p) for it in items for p in range(len(s.prompts))]
    r, t, m, n, d = len(rows), len(s.taps), s.merged_tokens, s.new_tokens, s.d_model
    return FeatureBatch(
        items=[it for it, _ in rows],
        prompts=[p for _, p in rows],
        n_old=[10 + i for i in range(r)],
        old_merged=torch.randn(r, t, m, d, generator=g),
        old_merged_size=torch.rand(r, t, m, generator=g) * 5 + 1,
        new=torch.randn(r, t, n, d, generator=g),
        old_mean=torch.randn(r, t, d, generator=g),
        old_last=torch.randn(r, t, d, generator=g),
        new_last=torch.randn(r, t, d, generator=g),
    )


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_round_trip_values_shapes_and_order(tmp_path: Path, dtype: str) -> None:
    s = settings(dtype)
    items = ["b", "a", "c10", "c2"]
    batch = random_batch(s, items)
    store = write_token_store(tmp_path / "st", s, batch, failed=[Failure("zz", "missing video")])

    assert store.items == ["a", "b", "c10", "c2"]  # byte order, like items.arrow
    assert store.taps == [1, 3] and store.d_model == 8 and store.prompts == ["describe", "topic"]
    assert store.failed == [{"item": "zz", "reason": "missing video"}]
    assert store.complete
    om = store.get("old_merged", [2, 0])
    assert om.shape == (2, 2, 2, 3, 8) and om.dtype == getattr(torch, dtype)
    # row of (c10, prompt 1) in the input batch
    src = batch.items.index("c10") + 1
    assert batch.prompts[src] == 1
    torch.testing.assert_close(om[0, 1], batch.old_merged[src].to(om.dtype), rtol=0, atol=0)
    torch.testing.assert_close(store.get("new", [2])[0, 1], batch.new[src].to(om.dtype), rtol=0, atol=0)
    for kind in ("old_mean", "old_last", "new_last"):
        got = store.get(kind, [2])
        assert got.shape == (1, 2, 2, 8)
        torch.testing.assert_close(got[0, 1], getattr(batch, kind)[src].to(om.dtype), rtol=0, atol=0)
    sizes = store.get("old_merged_size", [2])
    assert sizes.dtype == torch.float32
    torch.testing.assert_close(sizes[0, 1], batch.old_merged_size[src])
    assert store.get("n_old", [2]).tolist() == [[batch.n_old[src - 1], batch.n_old[src]]]
    # prompt selection and id lookup
    only = store.get_items("old_last", ["c10"], prompts=[1])
    assert only.shape == (1, 1, 2, 8)
    torch.testing.assert_close(only[0, 0], batch.old_last[src].to(om.dtype), rtol=0, atol=0)
    with pytest.raises(KeyError, match="zz"):
        store.indices(["zz"])
    with pytest.raises(TokenStoreError, match="unknown feature kind"):
        store.get("bogus", [0])


def test_shards_are_memory_mapped_arrow_files_and_manifest_valid(tmp_path: Path) -> None:
    s = settings()
    write_token_store(tmp_path / "st", s, random_batch(s, ["x", "y"]))
    manifest = json.loads((tmp_path / "st" / "manifest.json").read_text())
    assert manifest["format"] == "linkedout.tokenstore/1"
    assert manifest["shards"][0]["rows"] == 4 and manifest["items"] == 2
    with pa.memory_map(str(tmp_path / "st" / "shard-0.arrow")) as src:
        tbl = pa.ipc.open_file(src).read_all()
    assert tbl.schema.field("old_merged").type == pa.list_(pa.uint16(), 2 * 3 * 8)
    assert tbl.column("item").to_pylist() == ["x", "x", "y", "y"]
    TokenStore.open(tmp_path / "st", verify=True)
    # a flipped byte is caught by verify
    p = tmp_path / "st" / "shard-0.arrow"
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(TokenStoreError, match="sha256"):
        TokenStore.open(tmp_path / "st", verify=True)


def test_resume_from_parts_and_failures_then_retry(tmp_path: Path) -> None:
    s = settings()
    items = ["a", "b", "c", "d"]
    full = random_batch(s, items, seed=1)

    def rows_of(its: list[str]) -> FeatureBatch:
        idx = [i for i, it in enumerate(full.items) if it in its]
        pick = lambda t: t[idx]  # noqa: E731
        return FeatureBatch([full.items[i] for i in idx], [full.prompts[i] for i in idx], [full.n_old[i] for i in idx],
                            pick(full.old_merged), pick(full.old_merged_size), pick(full.new), pick(full.old_mean),
                            pick(full.old_last), pick(full.new_last))

    w = TokenStoreWriter(tmp_path / "st", s).shard(0, 2)
    w.write_part(rows_of(["a"]), [Failure("b", "corrupt video: no frames")])
    # a "new process" sees what is done
    w2 = TokenStoreWriter(tmp_path / "st", s).shard(0, 2)
    done, failed = w2.progress()
    assert done == {"a"} and failed == {"b": "corrupt video: no frames"}
    with pytest.raises(TokenStoreError, match="neither extracted nor failed"):
        w2.finalize(items)
    w2.write_part(rows_of(["c", "d"]))
    summary = w2.finalize(items)
    assert summary.rows == 6 and summary.items == ["a", "c", "d"] and [f.item for f in summary.failed] == ["b"]
    assert not list((tmp_path / "st").glob("shard-0.part-*"))
    manifest = json.loads((tmp_path / "st" / "manifest.json").read_text())
    assert manifest["complete"] is False and manifest["num_shards"] == 2  # shard 1 not written yet

    # retry the failed item: a later part supersedes the failure record
    w3 = TokenStoreWriter(tmp_path / "st", s).shard(0, 2)
    w3.write_part(rows_of(["b"]))
    w3.finalize(items)
    TokenStoreWriter(tmp_path / "st", s).shard(1, 2).finalize([])
    store = TokenStore.open(tmp_path / "st")
    assert store.items == items and store.failed == [] and store.complete
    ref = write_token_store(tmp_path / "ref", s, full)
    for kind in ("old_merged", "new", "old_mean", "old_last", "new_last", "old_merged_size", "n_old"):
        assert torch.equal(store.get(kind, range(4)), ref.get(kind, range(4))), kind
    # shard bytes do not depend on how the shard was resumed
    assert (tmp_path / "st" / "shard-0.arrow").read_bytes() != b""


def test_settings_mismatch_and_bad_shapes_are_refused(tmp_path: Path) -> None:
    s = settings()
    TokenStoreWriter(tmp_path / "st", s)
    with pytest.raises(TokenStoreError, match="differs in: merged_tokens"):
        TokenStoreWriter(tmp_path / "st", settings(merged_tokens=4))
    w = TokenStoreWriter(tmp_path / "st", s).shard(0, 1)
    b = random_batch(s, ["a"])
    b.new = b.new[:, :, :1]
    with pytest.raises(TokenStoreError, match=r"FeatureBatch.new: shape"):
        w.write_part(b)
    with pytest.raises(TokenStoreError, match="settings.taps"):
        settings(taps=(3, 1))


def test_a_different_shard_count_is_refused(tmp_path: Path) -> None:
    s = settings()
    w = TokenStoreWriter(tmp_path / "st", s).shard(0, 2)
    w.write_part(random_batch(s, ["a"]))
    w.finalize(["a"])
    with pytest.raises(TokenStoreError, match="split into 2 shards, not 3"):
        TokenStoreWriter(tmp_path / "st", s).shard(1, 3)


def test_duplicate_rows_across_shards_are_an_error(tmp_path: Path) -> None:
    s = settings()
    tw = TokenStoreWriter(tmp_path / "st", s)
    for i in range(2):
        w = tw.shard(i, 2)
        w.write_part(random_batch(s, ["same"]))
        w.finalize(["same"])
    with pytest.raises(TokenStoreError, match="more than once"):
        TokenStore.open(tmp_path / "st")


def test_killed_writer_loses_only_the_batch_in_flight(tmp_path: Path) -> None:
    """A process SIGKILLed right after a part is written: the part is complete and readable."""
    code = f"""
import os, signal, sys, torch
sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
from test_token_store import settings, random_batch
from linkedout.store.token_store import TokenStoreWriter
s = settings()
w = TokenStoreWriter({str(tmp_path / 'st')!r}, s).shard(0, 1)
w.write_part(random_batch(s, ["a", "b"]))
os.kill(os.getpid(), signal.SIGKILL)
"""
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": "py"}, capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()
    done, failed = TokenStoreWriter(tmp_path / "st", settings()).shard(0, 1).progress()
    assert done == {"a", "b"} and failed == {}
    assert not list((tmp_path / "st").glob(".*.tmp"))
