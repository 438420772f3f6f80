"""The learnable half of LinkedOut (paper §3.3): Layer Token Compressor, Cross-Layer MoE, rankers, losses."""

from .config import RecommenderConfig
from .features import ItemFeatures
from .recommender import LinkedOutRecommender

__all__ = ["RecommenderConfig", "ItemFeatures", "LinkedOutRecommender"]
