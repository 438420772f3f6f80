"""Raw world-knowledge token extraction (paper §3.2, §4.3), batched and written to a TokenStore shard.

One pass per video. Every prompt of a video shares its chat header, its video tokens and its side
channels, so each batch of V videos × P prompts runs:

    producer thread:  decode T frames per video ─▶ video processor (resize, normalise) once per video
                      ─▶ chat template per (video, prompt) row, <video> → T·⌈√N/2⌉²+1 tokens, tokenised
                      ─▶ split each row at its video's shared prefix (the longest run of tokens every
                         prompt of the video starts with): prefix ids [V, Lp], suffix ids [R = V·P, Ls]
    model (device):   prefix forward, once per video: vision tower + language model ─▶ KV cache
                      ─▶ cache repeated per prompt ─▶ generate(full ids, cache; max = min new tokens = G)
                         computes only each row's suffix and the G-1 decode steps; hooks on the taps
                      ─▶ per row: old = prefix ⧺ suffix tokens [taps, n_old, d] → ToMe → [taps, M, d]
                         (+ sizes), mean, last; new [taps, G-1, d], last new — batched on the device
                      ─▶ TokenStore part file (atomic) ─▶ … ─▶ finalize → shard-<i>.arrow
    (every shard) ─▶ finalize_store → manifest.json, once

Causal attention makes the prefix's hidden states independent of what follows, so the features are
those of one ``generate`` per (video, prompt) row (``Extractor.run``, kept as the reference; test:
``py/tests/extract/test_one_pass.py``) up to float rounding, for ≈ 1/P of the vision and prefill work.

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


@dataclass
class VideoBatch:
    """One batch in the one-pass layout: V videos × the same P prompts, R = V·P rows, video-major
    (row r is video r // P, prompt r % P). Built on the producer thread (``Extractor.prepare_videos``).

    prefix_ids, prefix_mask  [V, Lp]   each video's shared prefix, left-padded
    suffix_ids, suffix_mask  [R, Ls]   the rest of each row (prompt text, assistant header), left-padded
    pixel_values_videos      [V, T, 3, H, W]  preprocessed once per video
    """

    prompts: int
    prefix_ids: torch.Tensor
    prefix_mask: torch.Tensor
    suffix_ids: torch.Tensor
    suffix_mask: torch.Tensor
    pixel_values_videos: torch.Tensor

    @property
    def row_video(self) -> torch.Tensor:
        """[R] the video of each row."""
        v = self.prefix_ids.shape[0]
        return torch.arange(v, device=self.prefix_ids.device).repeat_interleave(self.prompts)

    def to(self, device: torch.device, dtype: torch.dtype) -> "VideoBatch":
        """On the model's device (non-blocking from pinned memory), pixels in the model's dtype."""
        nb = device.type == "cuda"
        return VideoBatch(
            prompts=self.prompts,
            prefix_ids=self.prefix_ids.to(device, non_blocking=nb),
            prefix_mask=self.prefix_mask.to(device, non_blocking=nb),
            suffix_ids=self.suffix_ids.to(device, non_blocking=nb),
            suffix_mask=self.suffix_mask.to(device, non_blocking=nb),
            pixel_values_videos=self.pixel_values_videos.to(device, non_blocking=nb).to(dtype),
        )

    def pin_memory(self) -> "VideoBatch":
        return VideoBatch(self.prompts, *(t.pin_memory() for t in (self.prefix_ids, self.prefix_mask, self.suffix_ids, self.suffix_mask, self.pixel_values_videos)))


def _left_padded(rows: Sequence[Sequence[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token id lists -> (ids, mask) [N, max len], left-padded."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        if r:
            ids[i, width - len(r) :] = torch.tensor(r, dtype=torch.long)
            mask[i, width - len(r) :] = 1
    return ids, mask


def _shared_prefix_length(rows: Sequence[Sequence[int]]) -> int:
    """Tokens every row starts with, leaving each row at least one token of its own (generate needs
    one uncached token): the video, the side channels and any words the prompts begin with alike."""
    n = min(len(r) for r in rows) - 1
    first = rows[0]
    for r in rows[1:]:
        k = 0
        while k < n and r[k] == first[k]:
            k += 1
        n = k
    return n


# ToMe inputs merged at once on the device: rows of one old-token count, at most this many fp32 bytes
_MERGE_CHUNK_BYTES = 1 << 30


class Extractor:
    """A loaded backbone + settings: turns (frames, text) rows into per-tap reductions."""

    def __init__(self, backbone: Backbone, settings: ExtractSettings, one_pass: bool = True) -> None:
        self.backbone = backbone
        self.settings = settings
        # False: every (video, prompt) row is preprocessed and prefilled on its own (the reference path)
        self.one_pass = one_pass
        # configured_taps: what the MoE fuses; taps: what is hooked and stored (configured + last layer)
        self.configured_taps = resolve_taps(backbone.num_layers, settings.tap_every, settings.taps or None)
        self.taps = stored_taps(backbone.num_layers, self.configured_taps)

    # -- inputs ---------------------------------------------------------------------------------

    def prepare(self, videos: Sequence[np.ndarray], texts: Sequence[str], device: torch.device | None = None) -> dict[str, torch.Tensor]:
        """Row path: one processor call over (frames, text) rows (chat template, video tokens, left
        padding); tensors on ``device`` (default the model's)."""
        proc = self.backbone.processor
        prompts = [chat_prompt(proc, t) for t in texts]
        inputs = proc(text=prompts, videos=list(videos), return_tensors="pt", padding=True, padding_side="left")
        out = {k: v.to(device or self.backbone.device) for k, v in inputs.items()}
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

    def reduce(self, cap: Captured, attention_mask: torch.Tensor, prefix_mask: torch.Tensor | None = None,
               row_video: torch.Tensor | None = None) -> RowFeatures:
        """Per row: the old tokens (exact, from the masks), ToMe merge, mean, last; batched on the
        capture's device over the rows that have the same number of old tokens, one copy to the host
        per stored kind.

        Row path: ``attention_mask`` [B, L] of the left-padded prompts. One-pass path: the suffix mask
        [R, Ls], ``prefix_mask`` [V, Lp] and ``row_video`` [R]; a row's old tokens are its video's
        prefix tokens followed by its own suffix tokens.
        """
        dev = cap.prefill[0].device
        mask = attention_mask.to(dev).bool()
        if cap.prefix:
            if prefix_mask is None or row_video is None:
                raise ValueError("reduce: a capture with a prefix pass needs prefix_mask and row_video")
            row_video = row_video.to(dev)
            mask = torch.cat([prefix_mask.to(dev).bool()[row_video], mask], dim=1)  # [R, Lp + Ls]
        rows, length = mask.shape
        n_old = mask.sum(dim=1)  # [R]
        if not cap.prefix and not torch.equal(mask, torch.arange(length, device=dev) >= (length - n_old)[:, None]):
            raise RuntimeError("attention mask is not left-padded; set tokenizer.padding_side='left'")
        taps, m, d = len(cap.prefill), self.settings.merged_tokens, cap.prefill[0].shape[-1]
        merged = torch.empty(rows, taps, m, d, device=dev)
        sizes = torch.empty(rows, taps, m, device=dev)
        means = torch.empty(rows, taps, d, device=dev)
        lasts = torch.empty(rows, taps, d, device=dev)

        def sequence(t: int, group: torch.Tensor) -> torch.Tensor:
            """Tap t's outputs over the rows of ``group``, laid out as ``mask``: [g, length, d]."""
            if not cap.prefix:
                return cap.prefill[t][group]
            return torch.cat([cap.prefix[t][row_video[group]], cap.prefill[t][group]], dim=1)  # type: ignore[index]

        for n in torch.unique(n_old).tolist():
            same = (n_old == n).nonzero()[:, 0]
            chunk = max(1, _MERGE_CHUNK_BYTES // (taps * n * d * 4))
            for a in range(0, same.numel(), chunk):
                group = same[a : a + chunk]
                pos = mask[group].nonzero()[:, 1].view(group.numel(), n, 1).expand(-1, -1, d)  # old positions, in order
                old = torch.stack([sequence(t, group).gather(1, pos) for t in range(taps)], dim=1).float()  # [g, taps, n, d]
                mg, sz = tome_merge(old.flatten(0, 1), m)  # taps of every row: independent sets
                merged[group] = mg.view(group.numel(), taps, m, d)
                sizes[group] = sz.view(group.numel(), taps, m)
                means[group] = old.mean(dim=2)
                lasts[group] = old[:, :, -1]
        new = torch.stack(cap.decode, dim=1).float().cpu()  # [R, taps, G-1, d]
        return RowFeatures(
            n_old=n_old.tolist(),
            old_merged=merged.cpu(),
            old_merged_size=sizes.cpu(),
            new=new,
            old_mean=means.cpu(),
            old_last=lasts.cpu(),
            new_last=new[:, :, -1],
        )

    def run(self, videos: Sequence[np.ndarray], texts: Sequence[str]) -> RowFeatures:
        """The row-by-row path: one ``generate`` over every (frames, text) row, each row prefilled in
        full. The one-pass path (``run_videos``) is checked against it."""
        inputs = self.prepare(videos, texts)
        cap, out = self.capture(inputs)
        feats = self.reduce(cap, inputs["attention_mask"])
        seqs = out.sequences if hasattr(out, "sequences") else out
        feats.generated = seqs[:, inputs["input_ids"].shape[1] :].tolist()
        return feats

    # -- one pass per video ---------------------------------------------------------------------

    def prepare_videos(self, videos: Sequence[np.ndarray], texts: Sequence[Sequence[str]]) -> VideoBatch:
        """The one-pass inputs on the host: ``texts[v]`` = the user texts of video v's P prompts.

        Each video goes through the video processor once; each row's text is expanded and tokenised
        exactly as the processor does it (``replace_video_token``, then the tokenizer), and split at
        its video's shared prefix. Pinned when the model is on a GPU."""
        proc = self.backbone.processor
        p = len(texts[0]) if texts else 0
        if len(texts) != len(videos) or p == 0 or any(len(t) != p for t in texts):
            raise ValueError(f"prepare_videos: {len(videos)} videos need as many lists of the same number (>= 1) of texts")
        processed = proc.video_processor(videos=list(videos), return_tensors="pt")
        rendered = []
        for v, ts in enumerate(texts):
            video_tokens = proc.replace_video_token(processed, video_idx=v)
            rendered += [chat_prompt(proc, t).replace(proc.video_token, video_tokens, 1) for t in ts]
        ids: list[list[int]] = proc.tokenizer(rendered)["input_ids"]
        video_id = proc.video_token_id
        prefixes, suffixes = [], []
        for v in range(len(videos)):
            rows = ids[v * p : (v + 1) * p]
            n = _shared_prefix_length(rows)
            last_video = max(i for i, t in enumerate(rows[0]) if t == video_id)
            if n <= last_video:
                raise RuntimeError(f"prepare_videos: the prompts of video {v} differ before its video tokens end")
            prefixes.append(rows[0][:n])
            suffixes += [r[n:] for r in rows]
        pad = proc.tokenizer.pad_token_id
        prefix_ids, prefix_mask = _left_padded(prefixes, pad)
        suffix_ids, suffix_mask = _left_padded(suffixes, pad)
        # pixels cast to the model's dtype here, on the host: half the bytes to move for bf16
        batch = VideoBatch(p, prefix_ids, prefix_mask, suffix_ids, suffix_mask, processed["pixel_values_videos"].to(self.backbone.dtype))
        return batch.pin_memory() if self.backbone.device.type == "cuda" else batch

    @torch.inference_mode()
    def capture_videos(self, batch: VideoBatch) -> tuple[Captured, torch.Tensor]:
        """The prefix forward (vision + prefill, once per video) then one ``generate`` over every row
        from the prefix's KV cache, with hooks on the taps -> (captures, generated ids [R, G])."""
        model = self.backbone.model
        p = batch.prompts
        with LayerTaps(self.backbone.decoder_layers, self.taps) as taps:
            # position ids from the mask, as generate derives them, so left padding changes nothing
            prefix = model.model(
                input_ids=batch.prefix_ids, attention_mask=batch.prefix_mask, position_ids=(batch.prefix_mask.cumsum(-1) - 1).clamp_min(0),
                pixel_values_videos=batch.pixel_values_videos, use_cache=True,
            )
            cache = prefix.past_key_values
            if p > 1:
                cache.batch_repeat_interleave(p)  # every prompt's row continues from its video's cache
            # the full ids: generate feeds the model only the ones past the cache (each row's suffix)
            input_ids = torch.cat([batch.prefix_ids.repeat_interleave(p, dim=0), batch.suffix_ids], dim=1)
            mask = torch.cat([batch.prefix_mask.repeat_interleave(p, dim=0), batch.suffix_mask], dim=1)
            out = model.generate(input_ids=input_ids, attention_mask=mask, past_key_values=cache, **self._generate_kwargs())
        cap = taps.result(prefix=True)
        if cap.num_new != self.settings.new_tokens:
            raise RuntimeError(f"captured {cap.num_new} new tokens, expected {self.settings.new_tokens} (generation stopped early?)")
        seqs = out.sequences if hasattr(out, "sequences") else out
        return cap, seqs[:, input_ids.shape[1] :]

    def extract_videos(self, batch: VideoBatch) -> RowFeatures:
        """A prepared batch on the model's device -> the reductions of its R rows, video-major."""
        cap, generated = self.capture_videos(batch)
        feats = self.reduce(cap, batch.suffix_mask, batch.prefix_mask, batch.row_video)
        feats.generated = generated.tolist()
        return feats

    def run_videos(self, videos: Sequence[np.ndarray], texts: Sequence[Sequence[str]]) -> RowFeatures:
        """One pass per video: ``texts[v]`` are video v's P user texts; rows come out video-major."""
        return self.extract_videos(self.prepare_videos(videos, texts).to(self.backbone.device, self.backbone.dtype))

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


@dataclass
class PreparedBatch:
    """What the producer thread hands the model for one batch: the decodable members' inputs
    (``None`` when none decoded) and the failures."""

    members: list[str]
    ok: list[str]
    failures: list[Failure]
    inputs: VideoBatch | dict[str, torch.Tensor] | None


def _prepare_batch(extractor: Extractor, by_id: Mapping[str, Mapping[str, Any]], members: list[str]) -> PreparedBatch:
    """Decode and preprocess one batch on the host (runs on the producer thread)."""
    s = extractor.settings
    videos, ok, failures = [], [], []
    for i in members:
        try:
            videos.append(sample_frames(by_id[i].get("video") or "", s.frames))
            ok.append(i)
        except BadVideo as e:
            failures.append(Failure(i, e.reason))
    if not ok:
        return PreparedBatch(members, ok, failures, None)
    texts = [[user_text(by_id[i], prompt, s.side_channels, s.side_channel_max_chars) for prompt in s.prompts] for i in ok]
    if extractor.one_pass:
        return PreparedBatch(members, ok, failures, extractor.prepare_videos(videos, texts))
    # the reference path: one row per (video, prompt), the video's frames processed for each
    rows = extractor.prepare([v for v in videos for _ in s.prompts], [t for ts in texts for t in ts], device=torch.device("cpu"))
    return PreparedBatch(members, ok, failures, rows)


def _write_batch(extractor: Extractor, writer: ShardWriter, batch: PreparedBatch) -> None:
    """Run one prepared batch (every prompt of every decodable member) and persist it as one part file."""
    s = extractor.settings
    bb = extractor.backbone
    if batch.inputs is None:
        writer.write_part(FeatureBatch.empty(writer.settings), batch.failures)
        return
    if isinstance(batch.inputs, VideoBatch):
        feats = extractor.extract_videos(batch.inputs.to(bb.device, bb.dtype))
    else:
        inputs = {k: v.to(bb.device) for k, v in batch.inputs.items()}
        if "pixel_values_videos" in inputs:
            inputs["pixel_values_videos"] = inputs["pixel_values_videos"].to(bb.dtype)
        cap, _ = extractor.capture(inputs)
        feats = extractor.reduce(cap, inputs["attention_mask"])
    out = FeatureBatch(
        items=[i for i in batch.ok for _ in s.prompts],  # rows are video-major
        prompts=[p for _ in batch.ok for p in range(len(s.prompts))],
        n_old=feats.n_old,
        old_merged=feats.old_merged,
        old_merged_size=feats.old_merged_size,
        new=feats.new,
        old_mean=feats.old_mean,
        old_last=feats.old_last,
        new_last=feats.new_last,
    )
    writer.write_part(out, batch.failures)


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

    # A producer thread decodes and preprocesses the next batch while the model runs on this one
    # (PyAV and torch's CPU kernels release the GIL). Batch membership stays fixed, so results do not
    # depend on timing.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prepare") as pool:
        pending: Future[PreparedBatch] | None = pool.submit(_prepare_batch, extractor, by_id, chunks[0]) if chunks else None
        for j in range(len(chunks)):
            assert pending is not None
            batch = pending.result()
            pending = pool.submit(_prepare_batch, extractor, by_id, chunks[j + 1]) if j + 1 < len(chunks) else None
            _write_batch(extractor, writer, batch)
            finished += len(batch.members)
            extracted += len(batch.ok)
            if progress:
                progress(finished, total, f"shard {shard}: {finished}/{total}" + (f", {len(batch.failures)} failed in this batch" if batch.failures else ""))

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
