"""A small learnable training set in the real file formats, for tests and `lo-exp bench train`.

Users walk the catalogue with stride 1 (item i is followed by item i+1 mod n), so the next item is
predictable from the last one; item content is a random vector per item plus noise per token, so content
models can tell items apart. The split follows the MicroLens protocol: the last item is the test target,
the one before the validation target, training sees the rest (<= 11).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from linkedout.store.token_store import FeatureBatch, Failure, StoreSettings, TokenStore, write_token_store

from .outputs import write_table_atomic


def item_ids(n_items: int) -> list[str]:
    return [f"v{i:05d}" for i in range(n_items)]  # zero-padded: byte order = numeric order


def write_synthetic_split(split_dir: Path, n_users: int, n_items: int, seed: int = 0, min_len: int = 5, max_len: int = 13) -> None:
    split_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    items = item_ids(n_items)
    sequences = []
    for _ in range(n_users):
        start, length = int(rng.integers(n_items)), int(rng.integers(min_len, max_len + 1))
        sequences.append([(start + k) % n_items for k in range(length)])
    counts = np.zeros(n_items, dtype=np.int64)
    users = [f"u{u:05d}" for u in range(n_users)]
    train_rows, valid_rows, test_rows = [], [], []
    for user, seq in zip(users, sequences):
        seq = seq[-13:]
        train, valid_t, test_t = seq[:-2], seq[-2], seq[-1]
        counts[train] += 1
        train_rows.append((user, [items[i] for i in train]))
        valid_rows.append((user, [items[i] for i in train[-10:]], items[valid_t], [items[i] for i in train]))
        test_rows.append((user, [items[i] for i in (train + [valid_t])[-10:]], items[test_t], [items[i] for i in train + [valid_t]]))
    write_table_atomic(split_dir / "items.arrow", pa.table({
        "item": pa.array(items, pa.utf8()), "train_count": pa.array(counts, pa.int64()),
        "title": pa.array([""] * n_items, pa.utf8()), "video": pa.array([""] * n_items, pa.utf8())}))
    write_table_atomic(split_dir / "train.arrow", pa.table({
        "user": pa.array([r[0] for r in train_rows], pa.utf8()), "sequence": pa.array([r[1] for r in train_rows], pa.list_(pa.utf8()))}))
    for name, rows in (("valid", valid_rows), ("test", test_rows)):
        write_table_atomic(split_dir / f"{name}.arrow", pa.table({
            "user": pa.array([r[0] for r in rows], pa.utf8()), "history": pa.array([r[1] for r in rows], pa.list_(pa.utf8())),
            "target": pa.array([r[2] for r in rows], pa.utf8()), "masked": pa.array([r[3] for r in rows], pa.list_(pa.utf8()))}))


def write_synthetic_store(store_dir: Path, n_items: int, taps: tuple[int, ...] = (0, 2, 4), num_layers: int = 6,
                          d_model: int = 32, merged_tokens: int = 6, new_tokens: int = 4, n_prompts: int = 2,
                          seed: int = 0, skip_items: tuple[int, ...] = ()) -> TokenStore:
    """A TokenStore whose features are an item vector plus token noise; `skip_items` are recorded as failed."""
    gen = torch.Generator().manual_seed(seed)
    settings = StoreSettings(key=f"synthetic-{seed}", model="synthetic", dataset="synthetic", taps=taps, num_layers=num_layers,
                             d_model=d_model, merged_tokens=merged_tokens, new_tokens=new_tokens, max_new_tokens=new_tokens,
                             prompts=tuple(f"prompt {p}" for p in range(n_prompts)), frames=4, dtype="float16")
    ids = item_ids(n_items)
    kept = [i for i in range(n_items) if i not in set(skip_items)]
    t = len(taps)
    item_vec = torch.randn(n_items, t, 1, d_model, generator=gen)  # [n, T, 1, d]
    rows = [(i, p) for i in kept for p in range(n_prompts)]
    r = len(rows)
    idx = torch.tensor([i for i, _ in rows])
    old = item_vec[idx] + 0.3 * torch.randn(r, t, merged_tokens, d_model, generator=gen)  # [R, T, M, d]
    new = item_vec[idx] + 0.3 * torch.randn(r, t, new_tokens, d_model, generator=gen)  # [R, T, N, d]
    new[:, :, -1] = 0.0  # a generation that stopped one token early: the last slot is padding
    size = torch.randint(1, 6, (r, t, merged_tokens), generator=gen).float()
    size[:, :, -1] = 0.0  # an empty merged slot
    batch = FeatureBatch(items=[ids[i] for i, _ in rows], prompts=[p for _, p in rows], n_old=[int(s) for s in size.sum((1, 2)) // t],
                         old_merged=old, old_merged_size=size, new=new, old_mean=old.mean(2), old_last=old[:, :, -2],
                         new_last=new[:, :, -2])
    return write_token_store(store_dir, settings, batch, [Failure(ids[i], "synthetic failure") for i in skip_items])
