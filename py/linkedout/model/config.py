"""Typed, strict configuration of the learnable model (the `recommender` config section).

The TypeScript side validates the YAML against `schemas/config/recommender.schema.json` and sends the
section as JSON; this module is the Python mirror. Unknown keys are an error naming their path, so a
typo in a config can never silently fall back to a default. Defaults are read from the schema at import
(``linkedout.config``); a test checks that the fields and types match it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass, asdict
from typing import Any, Literal, TypeVar, get_args, get_type_hints

from linkedout.config import section_defaults

Pooling = Literal["compressor", "mean", "last_token"]
LastTokenSource = Literal["old", "new", "both"]
LayerSelection = Literal["tapped", "last"]
Fusion = Literal["moe", "none"]
RankerName = Literal["sasrec", "gru4rec", "nextitnet"]
RankerNorm = Literal["pre", "post"]


_DEFAULT = section_defaults("recommender")


class ConfigError(ValueError):
    """A bad config value; the message names the key path (e.g. `recommender.moe.top_k`)."""


@dataclass(frozen=True)
class CompressorConfig:
    """Layer Token Compressor (paper §3.3.1): attention pooling with learnable queries."""

    old_queries: int = _DEFAULT["compressor"]["old_queries"]  # learnable queries of the old-token branch
    new_queries: int = _DEFAULT["compressor"]["new_queries"]  # learnable queries of the new-token branch
    heads: int = _DEFAULT["compressor"]["heads"]  # attention heads of each pooling module
    proportional_attention: bool = _DEFAULT["compressor"]["proportional_attention"]  # add log(ToMe size) to the attention logits of merged tokens
    prompt_mixing: bool = _DEFAULT["compressor"]["prompt_mixing"]  # learnable softmax weights over prompts; False = plain mean over prompts


@dataclass(frozen=True)
class MoEConfig:
    """Cross-Layer Knowledge MoE Fuser (paper §3.3.2)."""

    expert_hidden: int = _DEFAULT["moe"]["expert_hidden"]  # hidden width of each residual-MLP layer expert
    gate_hidden: int = _DEFAULT["moe"]["gate_hidden"]  # hidden width of the gating MLP G
    top_k: int = _DEFAULT["moe"]["top_k"]  # 0 = dense soft gating over all taps (paper default); k>0 = sparse top-k
    load_balance_weight: float = _DEFAULT["moe"]["load_balance_weight"]  # weight of the Switch-style load-balancing loss (top-k only)


@dataclass(frozen=True)
class RankerConfig:
    """The sequential user encoder over <= max_history item vectors."""

    name: RankerName = _DEFAULT["ranker"]["name"]
    layers: int = _DEFAULT["ranker"]["layers"]  # transformer blocks (sasrec), GRU layers (gru4rec), residual blocks (nextitnet)
    heads: int = _DEFAULT["ranker"]["heads"]  # sasrec attention heads
    dilations: tuple[int, ...] = _DEFAULT["ranker"]["dilations"]  # nextitnet: one residual block per dilation, repeated `layers` times
    kernel_size: int = _DEFAULT["ranker"]["kernel_size"]  # nextitnet causal convolution width
    max_history: int = _DEFAULT["ranker"]["max_history"]  # items before the target the ranker sees (MicroLens protocol)
    norm: RankerNorm = _DEFAULT["ranker"]["norm"]  # sasrec LayerNorm placement: pre (Kang & McAuley) or post (BERT, RecBole)


@dataclass(frozen=True)
class RecommenderConfig:
    """The `recommender` section. Paper Table 4 variants: pooling x layers x fusion."""

    pooling: Pooling = _DEFAULT["pooling"]
    last_token_source: LastTokenSource = _DEFAULT["last_token_source"]
    layers: LayerSelection = _DEFAULT["layers"]
    fusion: Fusion = _DEFAULT["fusion"]
    item_content: bool = _DEFAULT["item_content"]  # False = ID-only baseline (no TokenStore needed)
    item_id_embeddings: bool = _DEFAULT["item_id_embeddings"]  # True = learnable item-ID embeddings added to z_v ("+V" / ID baselines)
    d_c: int = _DEFAULT["d_c"]  # compressed per-layer vector width (paper's d_c)
    d_z: int = _DEFAULT["d_z"]  # fused item vector width (paper's d_z) = ranker width
    dropout: float = _DEFAULT["dropout"]
    compressor: CompressorConfig = field(default_factory=CompressorConfig)
    moe: MoEConfig = field(default_factory=MoEConfig)
    ranker: RankerConfig = field(default_factory=RankerConfig)

    def __post_init__(self) -> None:
        if not self.item_content and not self.item_id_embeddings:
            raise ConfigError("recommender: item_content=false needs item_id_embeddings=true (an item needs some representation)")
        if self.d_c % 2 != 0:
            raise ConfigError(f"recommender.d_c: must be even (old and new branch halves), got {self.d_c}")
        half = self.d_c // 2
        if half % self.compressor.heads != 0:
            raise ConfigError(f"recommender.compressor.heads: {self.compressor.heads} must divide d_c/2 = {half}")
        if self.d_z % self.ranker.heads != 0:
            raise ConfigError(f"recommender.ranker.heads: {self.ranker.heads} must divide d_z = {self.d_z}")
        if self.moe.top_k < 0:
            raise ConfigError(f"recommender.moe.top_k: must be >= 0, got {self.moe.top_k}")


T = TypeVar("T")


def from_dict(cls: type[T], data: dict[str, Any] | None, path: str) -> T:
    """Build dataclass `cls` from a JSON dict; unknown keys and wrong types raise ConfigError naming the path."""
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected an object, got {type(data).__name__}")
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    for key in data:
        if key not in known:
            raise ConfigError(f"{path}.{key}: unknown key (known: {', '.join(sorted(known))})")
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        kwargs[key] = _coerce(hints[key], value, f"{path}.{key}")
    try:
        return cls(**kwargs)
    except TypeError as err:  # pragma: no cover - guarded by the checks above
        raise ConfigError(f"{path}: {err}") from err


def _coerce(hint: Any, value: Any, path: str) -> Any:
    if is_dataclass(hint):
        return from_dict(hint, value, path)  # type: ignore[arg-type]
    origin = getattr(hint, "__origin__", None)
    if origin is Literal:
        allowed = get_args(hint)
        if value not in allowed:
            raise ConfigError(f"{path}: {value!r} is not one of {', '.join(map(repr, allowed))}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true/false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ConfigError(f"{path}: expected a list of integers, got {value!r}")
        return tuple(value)
    if getattr(hint, "__args__", None) and type(None) in get_args(hint):  # Optional[X]
        if value is None:
            return None
        inner = [a for a in get_args(hint) if a is not type(None)][0]
        return _coerce(inner, value, path)
    raise ConfigError(f"{path}: unsupported config type {hint!r}")  # pragma: no cover


def to_dict(config: Any) -> dict[str, Any]:
    """JSON-serialisable dict of a config dataclass (tuples become lists)."""

    def clean(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return clean(asdict(config))
