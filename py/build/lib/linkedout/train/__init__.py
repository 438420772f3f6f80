"""Training, ranking and the stable entry points to a finished run (paper §4.3). See docs/model.md."""

from .loop import train
from .spec import TrainConfig, TrainSpec
from .trained import Trained, item_embeddings, load_trained, user_tower

__all__ = ["train", "TrainConfig", "TrainSpec", "Trained", "item_embeddings", "load_trained", "user_tower"]
