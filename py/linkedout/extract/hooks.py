"""Forward hooks that capture old and new tokens during ONE ``generate`` call (paper §3.1, §3.2, §4.3).

"We attach PyTorch hooks to capture token embeddings during generation ... we record token
representations every four transformer layers" (§4.3). A forward hook on decoder layer ℓ sees that
layer's output for every forward pass ``generate`` makes:

    call 0 (prefill)      [B, L, d]   the *old* tokens: the whole left-padded prompt (video + text)
    call s = 1..G-1       [B, 1, d]   the *new* token fed at decode step s (generated token s)

On the one-pass path (``Extractor.capture_videos``) one more forward pass comes first: each video's
shared prefix, run once and its KV cache reused by every prompt's row, so the calls are

    call 0 (prefix)       [V, Lp, d]  old tokens every prompt of a video shares (video, side channels)
    call 1 (prefill)      [R, Ls, d]  old tokens of each (video, prompt) row after the prefix
    call 1 + s            [R, 1, d]   the new token of decode step s

With ``max_new_tokens = min_new_tokens = G`` there are exactly G forward passes, so G-1 new tokens
have a hidden state: the G-th sampled token is never fed back through the decoder. We keep G-1 and
run no extra forward pass (the issue forbids one); ``docs/extraction.md`` records this decision.

What a hook stores is the decoder layer's output, i.e. ``output_hidden_states[ℓ + 1]`` of the same
call, except for the last layer where HF's last entry has the final RMSNorm applied (our tap is
before it). A layer returns a Tensor in transformers 5 and a tuple (hidden, ...) in older versions;
both are handled. Hooks keep references only (no copies): under ``inference_mode`` the outputs are
fresh tensors that nothing else mutates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch


def resolve_taps(num_layers: int, tap_every: int = 4, taps: Sequence[int] | None = None) -> list[int]:
    """The configured taps: 0-based decoder layers whose tokens the MoE fuses (``layers: tapped``).

    ``taps`` given: those (negative counts from the end), validated. Otherwise every ``tap_every``-th
    layer from the first: 0, k, 2k, ... (the paper's Fig. 4/5 label its layers L0, L4, L8, ...).
    """
    if num_layers < 1:
        raise ValueError(f"num_layers={num_layers} must be >= 1")
    if taps is not None and len(taps) > 0:
        out = set()
        for t in taps:
            i = t + num_layers if t < 0 else t
            if not 0 <= i < num_layers:
                raise ValueError(f"extract.taps: layer {t} is out of range for a {num_layers}-layer model")
            out.add(i)
    else:
        if tap_every < 1:
            raise ValueError(f"extract.tap_every: {tap_every} must be >= 1")
        out = set(range(0, num_layers, tap_every))
    return sorted(out)


def stored_taps(num_layers: int, configured: Sequence[int]) -> list[int]:
    """Layers the extraction hooks and stores: the configured taps plus the last layer, which the
    last-layer ablation (Table 4) reads, so one extraction serves every Table 4 row."""
    return sorted(set(configured) | {num_layers - 1})


def _hidden_of(output: Any) -> torch.Tensor:
    """A decoder layer's hidden-state output: a Tensor (transformers 5) or first element of a tuple."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise TypeError(f"decoder layer returned {type(output).__name__}; expected a Tensor or a tuple starting with one")


@dataclass
class Captured:
    """Raw captures of one generate call, before per-item slicing.

    prefill[t]  [B, L, d]      output of tap t over the padded prompt (one-pass path: each row's suffix)
    decode[t]   [B, G-1, d]    outputs of tap t at decode steps 1..G-1 (stacked)
    prefix[t]   [V, Lp, d]     one-pass path only: output of tap t over each video's shared prefix
    """

    taps: list[int]
    prefill: list[torch.Tensor]
    decode: list[torch.Tensor]
    prefix: list[torch.Tensor] = field(default_factory=list)

    @property
    def num_new(self) -> int:
        return self.decode[0].shape[1] if self.decode else 0


@dataclass
class LayerTaps:
    """Context manager: forward hooks on ``layers[t]`` for t in ``taps``, removed on exit.

    >>> with LayerTaps(model.model.language_model.layers, [3, 7]) as cap:
    ...     model.generate(**inputs, max_new_tokens=G, min_new_tokens=G)
    >>> captured = cap.result()
    """

    layers: torch.nn.ModuleList
    taps: list[int]
    calls: list[list[torch.Tensor]] = field(default_factory=list)  # per tap, one tensor per forward pass
    _handles: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.layers)
        bad = [t for t in self.taps if not 0 <= t < n]
        if bad:
            raise ValueError(f"taps {bad} out of range for {n} decoder layers")

    def _hook(self, slot: int):
        def hook(_module: torch.nn.Module, _args: Any, output: Any) -> None:
            self.calls[slot].append(_hidden_of(output).detach())

        return hook

    def __enter__(self) -> "LayerTaps":
        self.calls = [[] for _ in self.taps]
        self._handles = [self.layers[t].register_forward_hook(self._hook(i)) for i, t in enumerate(self.taps)]
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def result(self, prefix: bool = False) -> Captured:
        """Split the captured calls into the prefill pass and the decode steps (``prefix``: the first
        call is the shared-prefix pass of the one-pass path, before them)."""
        if not self.calls or not self.calls[0]:
            raise RuntimeError("no forward pass was captured (was generate called inside the context?)")
        counts = {len(c) for c in self.calls}
        if len(counts) != 1:
            raise RuntimeError(f"taps saw different numbers of forward passes: {sorted(counts)}")
        first = 1 if prefix else 0
        if counts.pop() <= first:
            raise RuntimeError("the prefix pass was captured but no generate pass after it")
        prefill = [c[first] for c in self.calls]
        for t, c in zip(self.taps, self.calls):
            if any(x.shape[1] != 1 for x in c[first + 1 :]):
                raise RuntimeError(f"layer {t}: a decode step had more than one token (chunked prefill or speculative decoding is not supported)")
        decode = [torch.cat(c[first + 1 :], dim=1) if len(c) > first + 1 else c[first][:, :0] for c in self.calls]
        return Captured(taps=list(self.taps), prefill=prefill, decode=decode, prefix=[c[0] for c in self.calls] if prefix else [])
