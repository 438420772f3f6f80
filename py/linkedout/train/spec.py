"""The `train` config section (Python mirror of schemas/config/train.schema.json, defaults read from it) and the training spec.

A *spec* is what one training run needs, as JSON: the resolved `recommender` and `train` sections plus
paths. The TypeScript scheduler writes it (or sends it as the `train` op's args); `python -m
linkedout.train --spec spec.json` reads the same thing. Unknown keys anywhere are an error naming the path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from linkedout.config import section_defaults
from linkedout.model.config import ConfigError, RecommenderConfig, from_dict, to_dict

from .metrics import SelectMetric

Precision = Literal["auto", "fp32", "bf16", "fp16"]
Negatives = Literal["in_batch", "full"]
FeatureCacheMode = Literal["auto", "device", "host", "off"]

_DEFAULT = section_defaults("train")  # the defaults, from schemas/config/train.schema.json


@dataclass(frozen=True)
class LearningRates:
    """Per parameter group (paper §4.3: 1e-4 extractor side, 1e-5 recommendation head)."""

    item_encoder: float = _DEFAULT["lr"]["item_encoder"]  # compressors, prompt mixer, layer experts, gate
    id_embeddings: float = _DEFAULT["lr"]["id_embeddings"]  # learnable item-ID embeddings (MicroLens ID baselines train at 1e-4)
    ranker: float = _DEFAULT["lr"]["ranker"]  # the user encoder (recommendation head)


@dataclass(frozen=True)
class Schedule:
    """step_schedule_with_warmup at epoch granularity: lr·e/w during warmup, then lr·alpha^floor((e-w)/gap)."""

    warmup_epochs: int = _DEFAULT["schedule"]["warmup_epochs"]
    gap_epochs: int = _DEFAULT["schedule"]["gap_epochs"]
    alpha: float = _DEFAULT["schedule"]["alpha"]


@dataclass(frozen=True)
class LossConfig:
    align_weight: float = _DEFAULT["loss"]["align_weight"]  # weight of DirectAU alignment
    uniformity_gamma: float = _DEFAULT["loss"]["uniformity_gamma"]  # γ, weight of DirectAU uniformity
    popularity_correction: bool = _DEFAULT["loss"]["popularity_correction"]  # subtract log(train_count + 1) from training logits
    exclude_user_items: bool = _DEFAULT["loss"]["exclude_user_items"]  # the user's other items are not negatives


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = _DEFAULT["epochs"]
    batch_size: int = _DEFAULT["batch_size"]  # global batch (sequences), split across DDP ranks
    lr: LearningRates = field(default_factory=LearningRates)
    weight_decay: float = _DEFAULT["weight_decay"]  # on >= 2-D weights only (not biases, norms, queries' ... 1-D)
    grad_clip: float = _DEFAULT["grad_clip"]  # global gradient-norm clip; 0 = off
    schedule: Schedule = field(default_factory=Schedule)
    precision: Precision = _DEFAULT["precision"]  # auto = bf16 autocast on GPU, fp32 on CPU
    negatives: Negatives = _DEFAULT["negatives"]
    loss: LossConfig = field(default_factory=LossConfig)
    early_stopping_patience: int = _DEFAULT["early_stopping_patience"]  # epochs without a better select_metric before stopping; 0 = never stop early
    select_metric: str = _DEFAULT["select_metric"]  # hr@K | ndcg@K on validation: picks best.pt, decides early stopping
    feature_cache: FeatureCacheMode = _DEFAULT["feature_cache"]  # where the features the model reads are held (feature_cache.py)
    feature_cache_share: float = _DEFAULT["feature_cache_share"]  # auto: at most this share of free device/host memory
    seed: int = _DEFAULT["seed"]
    deterministic: bool = _DEFAULT["deterministic"]  # torch.use_deterministic_algorithms
    topk: int = _DEFAULT["topk"]  # length of the top-K list written per evaluated user
    eval_batch_users: int = _DEFAULT["eval_batch_users"]
    item_batch_size: int = _DEFAULT["item_batch_size"]  # items per forward when embedding the whole catalogue

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "topk", "eval_batch_users", "item_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name}: must be >= 1, got {getattr(self, name)}")
        SelectMetric.parse(self.select_metric)
        if not 0 < self.feature_cache_share <= 1:
            raise ConfigError(f"train.feature_cache_share: must be in (0, 1], got {self.feature_cache_share}")
        if self.schedule.gap_epochs < 1:
            raise ConfigError(f"train.schedule.gap_epochs: must be >= 1, got {self.schedule.gap_epochs}")


# Keys a resumed run may change without invalidating its checkpoint (they do not change past epochs).
RESUMABLE_CHANGES = {"epochs", "early_stopping_patience", "eval_batch_users", "item_batch_size", "topk", "feature_cache",
                     "feature_cache_share"}


@dataclass(frozen=True)
class TrainSpec:
    run_dir: str  # outputs: checkpoint.pt, best.pt, train_log.arrow, epochs.arrow, gates.arrow, ranks.arrow
    split_dir: str  # items.arrow, train.arrow, valid.arrow, test.arrow
    store: str | None = None  # TokenStore directory (None for ID-only models)
    recommender: RecommenderConfig = field(default_factory=RecommenderConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    resume: bool = True  # continue from run_dir/checkpoint.pt when it exists
    stop_after_epoch: int | None = None  # leave after this epoch (preemptible jobs; resume continues)
    write_ranks: bool = True  # write ranks.arrow (valid + test) with the best weights at the end
    device: str = "auto"  # auto | cpu | cuda | cuda:N (torchrun: cuda:LOCAL_RANK)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TrainSpec":
        if not isinstance(data, dict):
            raise ConfigError("spec: expected an object")
        known = {"run_dir", "split_dir", "store", "recommender", "train", "resume", "stop_after_epoch", "write_ranks", "device"}
        for key in data:
            if key not in known:
                raise ConfigError(f"spec.{key}: unknown key (known: {', '.join(sorted(known))})")
        stop = data.get("stop_after_epoch")
        if stop is not None and (isinstance(stop, bool) or not isinstance(stop, int) or stop < 1):
            raise ConfigError(f"spec.stop_after_epoch: expected an integer >= 1 or null, got {stop!r}")
        for key in ("run_dir", "split_dir"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise ConfigError(f"spec.{key}: required, a directory path")
        return cls(
            run_dir=data["run_dir"],
            split_dir=data["split_dir"],
            store=data.get("store") or None,
            recommender=from_dict(RecommenderConfig, data.get("recommender"), "recommender"),
            train=from_dict(TrainConfig, data.get("train"), "train"),
            resume=bool(data.get("resume", True)),
            stop_after_epoch=data.get("stop_after_epoch"),
            write_ranks=bool(data.get("write_ranks", True)),
            device=str(data.get("device", "auto")),
        )

    @classmethod
    def read(cls, path: str | Path) -> "TrainSpec":
        try:
            return cls.from_json(json.loads(Path(path).read_text()))
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path}: not JSON ({err})") from err
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from err

    def to_json(self) -> dict[str, Any]:
        return {
            "run_dir": self.run_dir, "split_dir": self.split_dir, "store": self.store,
            "recommender": to_dict(self.recommender), "train": to_dict(self.train), "resume": self.resume,
            "stop_after_epoch": self.stop_after_epoch, "write_ranks": self.write_ranks, "device": self.device,
        }
