"""TokenStore: the offline store of per-item, per-tap token reductions (paper §3.2, §3.4).

The extractor (``linkedout.extract``) runs the frozen video LLM once per (item, prompt) and keeps,
for every tapped decoder layer, the parameter-free reductions every ablation needs:

    old_merged       [taps, M, d]      ToMe-merged prefill ("old") tokens
    old_merged_size  [taps, M]         how many original tokens each merged token stands for
    new              [taps, N_new, d]  hidden states of the generated ("new") tokens
    old_mean         [taps, d]         mean of all old tokens (attention-mask exact)
    old_last         [taps, d]         the last old token
    new_last         [taps, d]         the last new token

Layout on disk (``docs/architecture.md`` "TokenStore" is the contract)::

    <store>/settings.json          what was extracted (taps, d, M, N_new, prompts, ...): fixed at creation
    <store>/manifest.json          schemas/tokenstore.manifest.schema.json, built once by finalize_store
    <store>/shard-<i>.arrow        Arrow IPC file, one row per (item, prompt), memory-mappable
    <store>/shard-<i>.json         that shard's summary (rows, sha256, items, failed, attempt)
    <store>/shard-<i>.part-<n>.arrow   work in progress of an unfinished shard (one per batch)

Modules, one job each:

    format.py        the format: settings, feature kinds and row shapes, errors, Arrow encoding
    shard_commit.py  ShardWriter: resumable part files and the fenced, locked commit of one shard
    finalize.py      manifest.json from the committed shard summaries (finalize_store, rebuild_manifest)
    writer.py        TokenStoreWriter: creates the store (settings.json once), hands out ShardWriters
    reader.py        TokenStore: the memory-mapped reader of a finished store
"""

from .finalize import finalize_store, rebuild_manifest
from .format import (
    ALL_KINDS,
    FLOAT_KINDS,
    FORMAT,
    TENSOR_KINDS,
    Failure,
    FeatureBatch,
    Kind,
    ShardCommitConflict,
    ShardSummary,
    StoreDtype,
    StoreSettings,
    TokenStoreError,
    validate_manifest,
)
from .reader import TokenStore
from .shard_commit import ShardWriter
from .writer import TokenStoreWriter, write_token_store

__all__ = [
    "ALL_KINDS",
    "FLOAT_KINDS",
    "FORMAT",
    "TENSOR_KINDS",
    "Failure",
    "FeatureBatch",
    "Kind",
    "ShardCommitConflict",
    "ShardSummary",
    "ShardWriter",
    "StoreDtype",
    "StoreSettings",
    "TokenStore",
    "TokenStoreError",
    "TokenStoreWriter",
    "finalize_store",
    "rebuild_manifest",
    "validate_manifest",
    "write_token_store",
]
