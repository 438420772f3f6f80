"""Where training holds the item features the model reads (`train.feature_cache`, docs/scale.md).

    device  every catalogue item's rows of the kinds the model reads (only the selected taps) in the
            training device's memory; a batch is an index_select there (HBM, ≈ 2 ms at 7B shapes)
    host    the same table in host memory; a batch's rows are gathered into pinned staging memory
    off     a batch's rows are read from the memory-mapped TokenStore (the page cache, or the disk)
    auto    device when the table fits `feature_cache_share` of the device's free memory, else host
            when it fits that share of the host's available memory, else off

In every mode the next batch's features are prepared by the batch producer thread (batching.prefetch)
while the current step runs: rows gathered on the host, and on CUDA copied to the device on a separate
stream (`host`: gathered straight into pinned staging memory, so the copy is an asynchronous DMA); the
step waits on that copy's event only. On CPU the same code runs with no stream and no pinning.

The values are the ones `ContentSource.gather` returns (the table is filled from it), so a run gives
bitwise the same result in every mode (tested on CPU). Under DDP each rank holds its own table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Literal

import torch

from linkedout.model.config import ConfigError
from linkedout.model.features import ItemFeatures

from .data import ContentSource

Placement = Literal["device", "host", "off"]
FILL_ITEMS = 256  # items read from the store per chunk while filling the table


def _tensors(features: ItemFeatures) -> dict[str, torch.Tensor]:
    return {f.name: getattr(features, f.name) for f in fields(features) if getattr(features, f.name) is not None}


def table_bytes(content: ContentSource, n_items: int) -> int:
    """Bytes of the whole catalogue's features (the kinds `content` reads, its taps only)."""
    one = _tensors(content.gather(torch.zeros(1, dtype=torch.long)))
    return n_items * sum(t.numel() * t.element_size() for t in one.values())


def host_available_bytes() -> int:
    """MemAvailable (Linux), else the free pages."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def device_free_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    return host_available_bytes()  # a CPU "device" is host memory


def choose_placement(mode: str, need: int, device: torch.device, share: float) -> Placement:
    """Resolve `auto`, and refuse an explicit placement that cannot fit, before any work."""
    gib = 2**30
    if mode == "off":
        return "off"
    if mode == "auto":
        if need <= share * device_free_bytes(device):
            return "device"
        if device.type == "cuda" and need <= share * host_available_bytes():
            return "host"
        return "off"
    free = device_free_bytes(device) if mode == "device" else host_available_bytes()
    if need > free:
        where = f"{device}" if mode == "device" else "host memory"
        raise ConfigError(f"train.feature_cache: {mode}: the features need {need / gib:.1f} GiB, {where} has "
                          f"{free / gib:.1f} GiB free (use auto, host or off)")
    return "device" if mode == "device" else "host"  # type: ignore[return-value]


@dataclass
class StagedFeatures:
    """One batch's features, their copy to the device perhaps still in flight."""

    features: ItemFeatures
    copied: "torch.cuda.Event | None" = None

    def ready(self, device: torch.device) -> ItemFeatures:
        """The features, usable by work queued on the current stream from now on."""
        if self.copied is not None:
            stream = torch.cuda.current_stream(device)
            stream.wait_event(self.copied)
            for t in _tensors(self.features).values():
                t.record_stream(stream)  # allocated on the copy stream, used on this one
        return self.features


class FeatureCache:
    """`gather(idx)` -> ItemFeatures on `device`, from the placement chosen for `mode`.

    `stage(idx)` is the same with the copy left in flight (call it from the batch producer thread);
    `stage(idx).ready(device)` then gives the features to the step.
    """

    def __init__(self, content: ContentSource, n_items: int, device: torch.device, mode: str, share: float) -> None:
        self.content = content
        self.device = device
        self.need_bytes = table_bytes(content, n_items)
        self.placement = choose_placement(mode, self.need_bytes, device, share)
        self._pin = device.type == "cuda"
        self._copy_stream = torch.cuda.Stream(device) if device.type == "cuda" else None
        self._table: dict[str, torch.Tensor] | None = None
        if self.placement != "off":
            self._table = self._fill(n_items, device if self.placement == "device" else torch.device("cpu"))
            if device.type == "cuda":
                torch.cuda.synchronize(device)  # filled on the default stream; read on the copy stream

    def _fill(self, n_items: int, where: torch.device) -> dict[str, torch.Tensor]:
        table: dict[str, torch.Tensor] = {}
        for start in range(0, n_items, FILL_ITEMS):
            stop = min(start + FILL_ITEMS, n_items)
            chunk = _tensors(self.content.gather(torch.arange(start, stop)))
            for name, t in chunk.items():
                if name not in table:
                    table[name] = torch.empty((n_items, *t.shape[1:]), dtype=t.dtype, device=where)
                table[name][start:stop].copy_(t)
        return table

    def _host_rows(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        """The batch's rows in host memory (from the host table: gathered straight into pinned staging)."""
        if self._table is None:  # off: pinning would cost one more host copy of the rows than it saves
            return _tensors(self.content.gather(idx))
        out: dict[str, torch.Tensor] = {}
        for name, t in self._table.items():
            staging = torch.empty((idx.shape[0], *t.shape[1:]), dtype=t.dtype, pin_memory=self._pin)
            out[name] = torch.index_select(t, 0, idx, out=staging)
        return out

    def stage(self, idx: torch.Tensor) -> StagedFeatures:
        idx = idx.cpu()
        if self._copy_stream is None:  # CPU: the rows are the features
            rows = (_tensors(self.content.gather(idx)) if self._table is None
                    else {k: t.index_select(0, idx) for k, t in self._table.items()})
            return StagedFeatures(ItemFeatures(**rows))
        with torch.cuda.stream(self._copy_stream):
            if self.placement == "device":
                assert self._table is not None
                dev_idx = idx.pin_memory().to(self.device, non_blocking=True)
                rows = {k: t.index_select(0, dev_idx) for k, t in self._table.items()}
            else:
                rows = {k: v.to(self.device, non_blocking=True) for k, v in self._host_rows(idx).items()}
            copied = torch.cuda.Event()
            copied.record(self._copy_stream)
        return StagedFeatures(ItemFeatures(**rows), copied)

    def gather(self, idx: torch.Tensor) -> ItemFeatures:
        return self.stage(idx).ready(self.device)
