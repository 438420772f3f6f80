"""Typed, strict configuration of the learnable model (the `recommender` config section).

The TypeScript side validates the YAML against `schemas/config/recommender.schema.json` and sends the
section as JSON. Its fields, types and defaults are generated from that schema
(``linkedout.config.generated``, `npm run gen:config`); this module adds the checks between keys.
Unknown keys are an error naming their path (``from_dict``), so a typo in a config can never silently
fall back to a default.
"""

from __future__ import annotations

from dataclasses import dataclass
from linkedout.config.generated import (
    RecommenderCompressor,
    RecommenderMoe,
    RecommenderRanker,
    RecommenderRankerNorm,
    RecommenderSection,
)
from linkedout.config.typed import ConfigError, from_dict, to_dict

__all__ = ["CompressorConfig", "ConfigError", "MoEConfig", "RankerConfig", "RankerNorm", "RecommenderConfig", "from_dict", "to_dict"]

CompressorConfig = RecommenderCompressor  # Layer Token Compressor (paper §3.3.1): attention pooling with learnable queries
MoEConfig = RecommenderMoe  # Cross-Layer Knowledge MoE Fuser (paper §3.3.2)
RankerConfig = RecommenderRanker  # the sequential user encoder over <= max_history item vectors
RankerNorm = RecommenderRankerNorm  # sasrec LayerNorm placement


@dataclass(frozen=True, kw_only=True)
class RecommenderConfig(RecommenderSection):
    """The `recommender` section (fields and defaults generated from the schema), with the checks that
    join several keys. Paper Table 4 variants: pooling x layers x fusion."""

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
