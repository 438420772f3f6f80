"""The `train` config section (Python mirror of schemas/config/train.schema.json) and the training spec.

A *spec* is what one training run needs, as JSON: the resolved `recommender` and `train` sections plus
paths. The TypeScript scheduler writes it (or sends it as the `train` op's args); `python -m
linkedout.train --spec spec.json` reads the same thing. Unknown keys anywhere are an error naming the path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from linkedout.model.config import ConfigError, RecommenderConfig, from_dict, to_dict

Precision = Literal["auto", "fp32", "bf16", "fp16"]
Negatives = Literal["in_batch", "full"]


@dataclass(frozen=True)
class LearningRates:
    """Per parameter group (paper §4.3: 1e-4 extractor side, 1e-5 recommendation head)."""

    item_encoder: float = 1e-4  # compressors, prompt mixer, layer experts, gate
    id_embeddings: float = 1e-4  # learnable item-ID embeddings (MicroLens ID baselines train at 1e-4)
    ranker: float = 1e-5  # the user encoder (recommendation head)


@dataclass(frozen=True)
class Schedule:
    """step_schedule_with_warmup at epoch granularity: lr·e/w during warmup, then lr·alpha^floor((e-w)/gap)."""

    warmup_epochs: int = 0
    gap_epochs: int = 1
    alpha: float = 1.0


@dataclass(frozen=True)
class LossConfig:
    align_weight: float = 1.0  # weight of DirectAU alignment
    uniformity_gamma: float = 1.0  # γ, weight of DirectAU uniformity
    popularity_correction: bool = True  # subtract log(train_count + 1) from training logits


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 100
    batch_size: int = 256  # global batch (sequences), split across DDP ranks
    lr: LearningRates = field(default_factory=LearningRates)
    weight_decay: float = 0.1  # on >= 2-D weights only (not biases, norms, queries' ... 1-D)
    grad_clip: float = 5.0  # global gradient-norm clip; 0 = off
    schedule: Schedule = field(default_factory=Schedule)
    precision: Precision = "auto"  # auto = bf16 autocast on GPU, fp32 on CPU
    negatives: Negatives = "in_batch"
    loss: LossConfig = field(default_factory=LossConfig)
    early_stopping_patience: int = 10  # epochs without a better valid HR@10 before stopping; 0 = never stop early
    seed: int = 0
    deterministic: bool = True  # torch.use_deterministic_algorithms
    topk: int = 20  # length of the top-K list written per evaluated user
    eval_batch_users: int = 1024
    item_batch_size: int = 256  # items per forward when embedding the whole catalogue

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "topk", "eval_batch_users", "item_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name}: must be >= 1, got {getattr(self, name)}")
        if self.schedule.gap_epochs < 1:
            raise ConfigError(f"train.schedule.gap_epochs: must be >= 1, got {self.schedule.gap_epochs}")


# Keys a resumed run may change without invalidating its checkpoint (they do not change past epochs).
RESUMABLE_CHANGES = {"epochs", "early_stopping_patience", "eval_batch_users", "item_batch_size", "topk"}


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
