"""EmbeddingStore: LanceDB round trip, cold-start add, and its refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from linkedout.store.embedding_store import EmbeddingStore, EmbeddingStoreError


def _rows(n: int, d_z: int = 8, taps: int = 3, seed: int = 0) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    items = [f"v{seed}-{i:04d}" for i in range(n)]
    z = torch.randn(n, d_z, generator=g)
    gates = torch.softmax(torch.randn(n, taps, generator=g), dim=1)
    return items, z, gates


def test_create_then_load_returns_the_same_rows_in_catalogue_order(tmp_path: Path) -> None:
    items, z, gates = _rows(50)
    EmbeddingStore.create(tmp_path / "emb", items, z, gates, "model-a")
    cat = EmbeddingStore.open(tmp_path / "emb").load()
    assert cat.items == items
    assert torch.equal(cat.z, z)
    assert torch.equal(cat.gates, gates)
    assert cat.model_version == "model-a"
    assert cat.index["v0-0031"] == 31
    manifest = json.loads((tmp_path / "emb" / "store.json").read_text())
    assert manifest["n_items"] == 50 and manifest["d_z"] == 8 and manifest["taps"] == 3


def test_create_replaces_an_old_store_and_leaves_no_temp_dirs(tmp_path: Path) -> None:
    EmbeddingStore.create(tmp_path / "emb", *_rows(10, seed=1), "old")
    items, z, gates = _rows(4, seed=2)
    EmbeddingStore.create(tmp_path / "emb", items, z, gates, "new")
    cat = EmbeddingStore.open(tmp_path / "emb").load()
    assert cat.items == items and cat.model_version == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["emb"]


def test_add_appends_rows_after_the_catalogue_and_bumps_the_version(tmp_path: Path) -> None:
    items, z, gates = _rows(20)
    store = EmbeddingStore.create(tmp_path / "emb", items, z, gates, "m")
    before = EmbeddingStore.open(tmp_path / "emb").load()
    mtime = store.manifest_mtime_ns()
    new_items, new_z, new_gates = _rows(3, seed=9)
    assert store.add(new_items, new_z, new_gates, "m") == 23
    after = EmbeddingStore.open(tmp_path / "emb").load()
    assert after.items == items + new_items
    assert torch.equal(after.z[20:], new_z) and torch.equal(after.z[:20], z)
    assert torch.equal(after.gates[20:], new_gates)
    assert after.version > before.version
    assert EmbeddingStore.open(tmp_path / "emb").manifest_mtime_ns() >= mtime
    assert EmbeddingStore.open(tmp_path / "emb").manifest["n_added"] == 3


def test_no_gates_is_allowed_for_stores_without_a_moe(tmp_path: Path) -> None:
    items, z, _ = _rows(5)
    EmbeddingStore.create(tmp_path / "emb", items, z, torch.zeros(5, 0), "m")
    cat = EmbeddingStore.open(tmp_path / "emb").load()
    assert cat.gates.shape == (5, 0) and torch.equal(cat.z, z)


def test_add_refuses_duplicates_other_model_versions_and_other_widths(tmp_path: Path) -> None:
    items, z, gates = _rows(6)
    store = EmbeddingStore.create(tmp_path / "emb", items, z, gates, "m")
    with pytest.raises(EmbeddingStoreError, match="'v0-0002' is already in the store"):
        store.add(["v0-0002"], z[:1], gates[:1], "m")
    with pytest.raises(EmbeddingStoreError, match="model version other"):
        store.add(["fresh"], z[:1], gates[:1], "other")
    with pytest.raises(EmbeddingStoreError, match="d_z=4"):
        store.add(["fresh"], torch.zeros(1, 4), gates[:1], "m")
    with pytest.raises(EmbeddingStoreError, match="'dup' appears twice"):
        store.add(["dup", "dup"], z[:2], gates[:2], "m")
    with pytest.raises(EmbeddingStoreError, match="not finite"):
        store.add(["nan"], torch.full((1, 8), float("nan")), gates[:1], "m")
    # nothing was written by the refused adds
    assert EmbeddingStore.open(tmp_path / "emb").load().items == items


def test_open_names_the_missing_or_damaged_manifest(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingStoreError, match="store.json: no EmbeddingStore here"):
        EmbeddingStore.open(tmp_path / "nothing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "store.json").write_text("{not json")
    with pytest.raises(EmbeddingStoreError, match="store.json: not valid JSON"):
        EmbeddingStore.open(tmp_path / "bad")
