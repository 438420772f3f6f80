"""The user tower as the serving worker runs it (``serve.tower``).

One online query runs the trained user tower (default: 2 SASRec blocks) over ≤ 10 history vectors.
That is ~2.5 M multiply-adds, but ~45 small ATen calls: on one CPU thread most of its time is the cost
of calling them from Python, not arithmetic (docs/serving.md, "The user tower online").

``frozen`` (the default) traces the trained module into a TorchScript graph and freezes it (weights
inlined as constants). The graph calls the same ATen kernels in the same order from C++, so its user
vectors are the eager module's bit for bit — which is checked, not assumed: at load the graph and the
module each encode probe histories of every length 1..max_history, in a batch of one and of several
mixed lengths, three times each (TorchScript re-optimises a graph after its first runs), and the graph
is used only if every output is ``torch.equal`` to the module's. Otherwise — or with ``serve.tower:
eager``, or where tracing fails — the module itself is served and ``note`` says why in one line
(e.g. a GRU4Rec tower: its frozen graph differs in the last bit on batches, so it stays eager).

TorchScript is in maintenance mode in torch 2.x (``torch.jit.trace`` warns FutureWarning); the
warning is silenced here because the fallback above makes its removal harmless: the tower goes
back to eager, with the note. ``torch.compile`` was measured as the alternative: 34 s to compile on
this 2-core machine, ~20 % faster than eager against ~40 % for the frozen graph, and not bitwise equal.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Literal

import torch
from torch import nn

TowerMode = Literal["frozen", "eager"]
TOWER_MODES: tuple[TowerMode, ...] = ("frozen", "eager")
PROBE_RUNS = 3  # the profiling executor specialises a graph after its first runs: check past that


@dataclass(frozen=True)
class ServingTower:
    """A ``UserTower`` (serve.service): history_z [B, L, d_z] right-padded, lengths [B] -> users [B, d_z]."""

    forward: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    mode: TowerMode  # what actually serves
    note: str | None = None  # why ``eager`` serves although ``frozen`` was asked

    def __call__(self, history_z: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.forward(history_z, lengths)


def probe_batches(d_z: int, max_history: int, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Histories of every width 1..max_history: one user at full width, and 3 users of mixed lengths."""
    g = torch.Generator().manual_seed(seed)
    probes = []
    for width in range(1, max_history + 1):
        probes.append((torch.randn(1, width, d_z, generator=g), torch.tensor([width])))
        lengths = torch.randint(1, width + 1, (3,), generator=g)
        lengths[0] = width  # the batch is as wide as its longest history, as the service pads it
        probes.append((torch.randn(3, width, d_z, generator=g), lengths))
    return probes


def _freeze(encoder: nn.Module, example: tuple[torch.Tensor, torch.Tensor]) -> torch.jit.ScriptModule:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # FutureWarning (deprecation) and TracerWarnings: see the module docstring
        traced = torch.jit.trace(encoder, example, check_trace=False)
        return torch.jit.freeze(traced.eval())


@torch.inference_mode()
def serving_tower(encoder: nn.Module, *, d_z: int, max_history: int, mode: TowerMode = "frozen") -> ServingTower:
    """The tower to serve with (module docstring). ``encoder`` is in eval mode (``LinkedOutRecommender.user_encoder``)."""
    if mode not in TOWER_MODES:
        raise ValueError(f"serve.tower: {mode!r} is not one of {', '.join(TOWER_MODES)}")
    if mode == "eager":
        return ServingTower(encoder, "eager")
    if encoder.training:
        raise ValueError("serving_tower: the encoder is in training mode (dropout); call .eval() first")
    name = type(encoder).__name__
    probes = probe_batches(d_z, max_history)
    try:
        graph = _freeze(encoder, probes[-1])
    except Exception as e:  # noqa: BLE001 - any tracing failure means: serve the module itself
        return ServingTower(encoder, "eager", f"user tower: {name} could not be frozen "
                                              f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); serving it eagerly")
    for history_z, lengths in probes:
        expected = encoder(history_z, lengths)
        for _ in range(PROBE_RUNS):
            got = graph(history_z, lengths)
            if not torch.equal(got, expected):
                diff = (got - expected).abs().max().item() if got.shape == expected.shape else float("nan")
                return ServingTower(encoder, "eager", f"user tower: the frozen graph of {name} differs from the module "
                                                      f"(batch {tuple(history_z.shape[:2])}, max |diff| {diff:.3g}); serving it eagerly")
    return ServingTower(graph, "frozen")
