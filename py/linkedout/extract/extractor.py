"""Raw world-knowledge token extraction (paper §3.2, §4.3), batched and written to a TokenStore shard.

Per (item, prompt) row the frozen backbone runs ONE ``generate`` call (batched over rows, left
padded) with forward hooks on the tapped decoder layers (``hooks.py``); the captured old (prefill) and
new (decode) tokens are reduced per tap (``merge.py``) and written to the store (``TokenStore``).

    frames [T,H,W,3] ─┐
    title, prompt  ───┴─▶ processor (chat template, <video> → T·⌈√N/2⌉²+1 tokens, left padding)
                        ─▶ generate(max_new_tokens = min_new_tokens = G) with hooks on taps
                        ─▶ per row: old [taps, n_old, d] → ToMe → [taps, M, d] (+ sizes), mean, last
                                    new [taps, G-1, d], last new
                        ─▶ TokenStore part file (atomic) ─▶ … ─▶ finalize → shard-<i>.arrow
    (every shard) ─▶ finalize_store → manifest.json, once

Resumable with fixed batch boundaries: the shard's items are chunked in order into batches of
``max(1, batch_size // P)`` items × P prompts. A rerun skips finished items and re-runs an
unfinished chunk with the same members, so its values are bitwise those of an uninterrupted run
on the same hardware (padding, hence matmul shapes, is the same).
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence, get_args

import numpy as np
import torch

from ..config import section_schema
from ..config.generated import ExtractSection, ExtractStoreDtype
from ..config.typed import from_dict
from ..store.token_store import Failure, FeatureBatch, ShardWriter, StoreSettings, TokenStoreError, TokenStoreWriter, finalize_store
from .backbone import Backbone
from .frames import BadVideo, sample_frames
from .hooks import Captured, LayerTaps, resolve_taps, stored_taps
from .merge import tome_merge
from .prompts import chat_prompt, user_text

# extract keys that only the TypeScript scheduler reads (sharding, retries): the op's args never carry them
SCHEDULER_ONLY_KEYS = frozenset(k for k, p in section_schema("extract")["properties"].items() if p.get("x-scheduler-only"))


@dataclass(frozen=True, kw_only=True)
class ExtractSettings(ExtractSection):
    """The ``extract`` config section as the worker sees it: fields, types and defaults generated from
    schemas/config/extract.schema.json, less the keys only the TypeScript scheduler reads
    (``SCHEDULER_ONLY_KEYS``), with the checks the schema cannot make."""

    def __post_init__(self) -> None:
        if self.max_new_tokens < 2:
            raise ValueError(f"extract.max_new_tokens: {self.max_new_tokens}; must be >= 2 (the last generated token has no hidden state)")
        for name in ("frames", "merged_tokens", "batch_size", "side_channel_max_chars"):
            if getattr(self, name) < 1:
                raise ValueError(f"extract.{name}: must be >= 1, got {getattr(self, name)}")
        if not self.prompts:
            raise ValueError("extract.prompts: the prompt bank is empty")
        if self.store_dtype not in get_args(ExtractStoreDtype):
            raise ValueError(f"extract.store_dtype: {self.store_dtype!r} is not one of {', '.join(get_args(ExtractStoreDtype))}")

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None, path: str = "extract") -> "ExtractSettings":
        """Unknown keys and wrong types raise ConfigError (a ValueError) naming the key."""
        return from_dict(cls, data, path)

    @property
    def new_tokens(self) -> int:
        return self.max_new_tokens - 1


@dataclass
class RowFeatures:
    """Reductions for R rows (see TokenStore): float32 / model dtype tensors on CPU."""

    n_old: list[int]
    old_merged: torch.Tensor  # [R, taps, M, d]
    old_merged_size: torch.Tensor  # [R, taps, M]
    new: torch.Tensor  # [R, taps, G-1, d]
    old_mean: torch.Tensor  # [R, taps, d]
    old_last: torch.Tensor  # [R, taps, d]
    new_last: torch.Tensor  # [R, taps, d]
    generated: list[list[int]] = field(default_factory=list)  # token ids, for inspection


class Extractor:
    """A loaded backbone + settings: turns (frames, text) rows into per-tap reductions."""

    def __init__(self, backbone: Backbone, settings: ExtractSettings) -> None:
        self.backbone = backbone
        self.settings = settings
        # configured_taps: what the MoE fuses; taps: what is hooked and stored (configured + last layer)
        self.configured_taps = resolve_taps(backbone.num_layers, settings.tap_every, settings.taps or None)
        self.taps = stored_taps(backbone.num_layers, self.configured_taps)

    # -- inputs ---------------------------------------------------------------------------------

    def prepare(self, videos: Sequence[np.ndarray], texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Processor call: chat template, video tokens, left padding; tensors on the model's device."""
        proc = self.backbone.processor
        prompts = [chat_prompt(proc, t) for t in texts]
        inputs = proc(text=prompts, videos=list(videos), return_tensors="pt", padding=True, padding_side="left")
        out = {k: v.to(self.backbone.device) for k, v in inputs.items()}
        if "pixel_values_videos" in out:
            out["pixel_values_videos"] = out["pixel_values_videos"].to(self.backbone.dtype)
        return out

    def _generate_kwargs(self) -> dict[str, Any]:
        g = self.settings.max_new_tokens
        tok = self.backbone.processor.tokenizer
        return dict(max_new_tokens=g, min_new_tokens=g, do_sample=False, num_beams=1, pad_token_id=tok.pad_token_id)

    # -- model ----------------------------------------------------------------------------------

    @torch.inference_mode()
    def generate_plain(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The same generate call without hooks (the benchmark's baseline)."""
        return self.backbone.model.generate(**inputs, **self._generate_kwargs())

    @torch.inference_mode()
    def capture(self, inputs: Mapping[str, torch.Tensor], **extra: Any) -> tuple[Captured, Any]:
        """One generate call with hooks on the taps -> (captures, generate output)."""
        with LayerTaps(self.backbone.decoder_layers, self.taps) as taps:
            out = self.backbone.model.generate(**inputs, **self._generate_kwargs(), **extra)
        cap = taps.result()
        if cap.num_new != self.settings.new_tokens:
            raise RuntimeError(f"captured {cap.num_new} new tokens, expected {self.settings.new_tokens} (generation stopped early?)")
        return cap, out

    def reduce(self, cap: Captured, attention_mask: torch.Tensor) -> RowFeatures:
        """Per row: exact old-token range under the left-padding mask, ToMe merge, mean, last."""
        mask = attention_mask.bool().cpu()
        b, length = mask.shape
        m = self.settings.merged_tokens
        new = torch.stack(cap.decode, dim=1).float().cpu()  # [B, taps, G-1, d]
        rows_merged, rows_size, means, lasts, n_old = [], [], [], [], []
        for r in range(b):
            n = int(mask[r].sum())
            if not bool(mask[r, length - n :].all()):
                raise RuntimeError("attention mask is not left-padded; set tokenizer.padding_side='left'")
            old = torch.stack([p[r, length - n :] for p in cap.prefill]).float()  # [taps, n, d]; no [B, taps, L, d] copy
            merged, size = tome_merge(old, m)
            rows_merged.append(merged.cpu())
            rows_size.append(size.cpu())
            means.append(old.mean(dim=1).cpu())
            lasts.append(old[:, -1].cpu())
            n_old.append(n)
        return RowFeatures(
            n_old=n_old,
            old_merged=torch.stack(rows_merged),
            old_merged_size=torch.stack(rows_size),
            new=new,
            old_mean=torch.stack(means),
            old_last=torch.stack(lasts),
            new_last=new[:, :, -1],
        )

    def run(self, videos: Sequence[np.ndarray], texts: Sequence[str]) -> RowFeatures:
        inputs = self.prepare(videos, texts)
        cap, out = self.capture(inputs)
        feats = self.reduce(cap, inputs["attention_mask"])
        seqs = out.sequences if hasattr(out, "sequences") else out
        feats.generated = seqs[:, inputs["input_ids"].shape[1] :].tolist()
        return feats

    def store_settings(self, key: str, dataset: str) -> StoreSettings:
        s = self.settings
        return StoreSettings(
            key=key,
            model=self.backbone.path,
            dataset=dataset,
            taps=tuple(self.taps),
            configured_taps=tuple(self.configured_taps),
            num_layers=self.backbone.num_layers,
            d_model=self.backbone.d_model,
            merged_tokens=s.merged_tokens,
            new_tokens=s.new_tokens,
            max_new_tokens=s.max_new_tokens,
            prompts=tuple(s.prompts),
            frames=s.frames,
            dtype=s.store_dtype,  # type: ignore[arg-type]
            side_channels=tuple(s.side_channels),
        )


ProgressFn = Callable[[int, int, str], None]


@dataclass
class ShardReport:
    shard: int
    items: int
    extracted: int
    skipped: int
    failed: list[dict[str, str]]
    rows: int
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _write_batch(
    extractor: Extractor,
    writer: ShardWriter,
    by_id: Mapping[str, Mapping[str, Any]],
    members: list[str],
    videos: list[np.ndarray],
    ok: list[str],
    failures: list[Failure],
) -> None:
    """Run one batch (every prompt of every decodable member) and persist it as one part file."""
    s = extractor.settings
    if ok:
        rows = [(i, p) for i in ok for p in range(len(s.prompts))]
        texts = [user_text(by_id[i], s.prompts[p], s.side_channels, s.side_channel_max_chars) for i, p in rows]
        frames = [videos[ok.index(i)] for i, _ in rows]
        feats = extractor.run(frames, texts)
        batch = FeatureBatch(
            items=[i for i, _ in rows],
            prompts=[p for _, p in rows],
            n_old=feats.n_old,
            old_merged=feats.old_merged,
            old_merged_size=feats.old_merged_size,
            new=feats.new,
            old_mean=feats.old_mean,
            old_last=feats.old_last,
            new_last=feats.new_last,
        )
    else:
        batch = FeatureBatch.empty(writer.settings)
    writer.write_part(batch, failures)


def extract_shard(
    extractor: Extractor,
    store_dir: str,
    key: str,
    dataset: str,
    items: Sequence[Mapping[str, Any]],
    shard: int,
    num_shards: int,
    retry_failed: bool = False,
    progress: ProgressFn | None = None,
) -> ShardReport:
    """Extract every item of one shard into ``store_dir`` (resumable; failures recorded, not raised).

    ``items``: [{"item": id, "video": path, "title": ..., other side-channel columns ...}].
    """
    t0 = time.monotonic()
    ids = [str(it["item"]) for it in items]
    dup = {i for i in ids if ids.count(i) > 1} if len(set(ids)) != len(ids) else set()
    if dup:
        raise TokenStoreError(f"shard {shard}: item {sorted(dup)[0]!r} listed more than once")
    by_id = {str(it["item"]): it for it in items}
    s = extractor.settings
    writer = TokenStoreWriter(store_dir, extractor.store_settings(key, dataset)).shard(shard, num_shards)
    done, failed = writer.progress()
    todo = {i for i in ids if i not in done and (retry_failed or i not in failed)}
    skipped = len(ids) - len(todo)
    total = len(ids)
    if progress:
        progress(skipped, total, f"shard {shard}: {skipped} already done, {len(todo)} to extract")

    per_batch = max(1, s.batch_size // len(s.prompts))
    finished = skipped
    extracted = 0
    chunks = [m for m in ([i for i in ids[a : a + per_batch] if i in todo] for a in range(0, len(ids), per_batch)) if m]

    def decode(members: list[str]) -> tuple[list[np.ndarray], list[str], list[Failure]]:
        videos, ok, failures = [], [], []
        for i in members:
            try:
                videos.append(sample_frames(by_id[i].get("video") or "", s.frames))
                ok.append(i)
            except BadVideo as e:
                failures.append(Failure(i, e.reason))
        return videos, ok, failures

    # Decode the next batch's videos on a thread while the model runs on this one (PyAV releases
    # the GIL while decoding). Batch membership stays fixed, so results do not depend on timing.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode") as pool:
        pending: Future[tuple[list[np.ndarray], list[str], list[Failure]]] | None = pool.submit(decode, chunks[0]) if chunks else None
        for j, members in enumerate(chunks):
            assert pending is not None
            videos, ok, failures = pending.result()
            pending = pool.submit(decode, chunks[j + 1]) if j + 1 < len(chunks) else None
            _write_batch(extractor, writer, by_id, members, videos, ok, failures)
            finished += len(members)
            extracted += len(ok)
            if progress:
                progress(finished, total, f"shard {shard}: {finished}/{total}" + (f", {len(failures)} failed in this batch" if failures else ""))

    final = writer.finished_summary() if extracted == 0 and not todo else None
    if final is not None and set(final["items"]) | {f["item"] for f in final["failed"]} == set(ids):
        failed_rows, rows = final["failed"], int(final["rows"])  # already final: keep the file as is
    else:
        # the commit; the manifest is built once for the whole store by finalize_store
        summary = writer.finalize(ids, rebuild_manifest=False)
        failed_rows, rows = [{"item": f.item, "reason": f.reason} for f in summary.failed], summary.rows
    if num_shards == 1:  # this shard is the whole store: its manifest costs one summary read
        finalize_store(store_dir, ids)
    return ShardReport(
        shard=shard,
        items=len(ids),
        extracted=extracted,
        skipped=skipped,
        failed=failed_rows,
        rows=rows,
        seconds=time.monotonic() - t0,
    )
