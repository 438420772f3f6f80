"""Creating (or reopening) a store directory: ``settings.json`` once, then one ``ShardWriter`` per shard."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

from ...util.atomic import create_atomic
from .finalize import finalize_store
from .format import Failure, FeatureBatch, StoreSettings, TokenStoreError
from .reader import TokenStore
from .shard_commit import ShardWriter


class TokenStoreWriter:
    """Creates (or reopens) a store directory and hands out one ``ShardWriter`` per shard.

    Several processes may write different shards of the same store at once; a shard is written by
    one process at a time (the orchestrator guarantees it). ``settings.json`` is created once and
    every later writer must present equal settings.
    """

    def __init__(self, store_dir: str | os.PathLike[str], settings: StoreSettings) -> None:
        self.dir = Path(store_dir)
        self.settings = settings
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / "settings.json"
        text = json.dumps(settings.to_json(), indent=2) + "\n"
        create_atomic(path, lambda tmp: tmp.write_text(text))  # concurrent writers agree on one file
        existing = json.loads(path.read_text())
        if existing != settings.to_json():
            diff = sorted(k for k in set(existing) | set(settings.to_json()) if existing.get(k) != settings.to_json().get(k))
            raise TokenStoreError(f"{path}: store was created with different settings (differs in: {', '.join(diff)})")

    def shard(self, index: int, num_shards: int) -> ShardWriter:
        return ShardWriter(self.dir, self.settings, index, num_shards)


def write_token_store(
    store_dir: str | os.PathLike[str],
    settings: StoreSettings,
    batch: FeatureBatch,
    failed: Sequence[Failure] = (),
) -> TokenStore:
    """Write a whole store as one shard in one call (tests, small synthetic stores) and open it."""
    shard = TokenStoreWriter(store_dir, settings).shard(0, 1)
    shard.write_part(batch, failed)
    items = sorted(set(batch.items) | {f.item for f in failed})
    shard.finalize(items, rebuild_manifest=False)
    finalize_store(store_dir, items)
    return TokenStore.open(store_dir)
