"""The `train` config section (generated from schemas/config/train.schema.json, plus its checks) and the training spec.

A *spec* is what one training run needs, as JSON: the resolved `recommender` and `train` sections plus
paths. The TypeScript scheduler writes it (or sends it as the `train` op's args); `python -m
linkedout.train --spec spec.json` reads the same thing. Unknown keys anywhere are an error naming the path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from linkedout.config.generated import TrainLoss, TrainLr, TrainSchedule, TrainSection
from linkedout.model.config import ConfigError, RecommenderConfig, from_dict, to_dict
from linkedout.protocol.op_args import TrainArgs

LearningRates = TrainLr  # per parameter group (paper §4.3: 1e-4 extractor side, 1e-5 recommendation head)
Schedule = TrainSchedule  # step_schedule_with_warmup at epoch granularity: lr·e/w during warmup, then lr·alpha^floor((e-w)/gap)
LossConfig = TrainLoss


@dataclass(frozen=True, kw_only=True)
class TrainConfig(TrainSection):
    """The `train` section (fields and defaults generated from the schema), with the checks the schema's
    bounds do not make when a spec file is read directly (`python -m linkedout.train --spec`)."""

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
    """One training run: the `train` op's args (schemas/protocol/ops/train.args.schema.json, generated
    `TrainArgs`: keys, types and defaults) less `threads`, with the two config sections typed."""

    run_dir: str  # outputs: checkpoint.pt, best.pt, train_log.arrow, epochs.arrow, gates.arrow, ranks.arrow
    split_dir: str  # items.arrow, train.arrow, valid.arrow, test.arrow
    store: str | None  # TokenStore directory (None for ID-only models)
    recommender: RecommenderConfig
    train: TrainConfig
    resume: bool  # continue from run_dir/checkpoint.pt when it exists
    stop_after_epoch: int | None  # leave after this epoch (preemptible jobs; resume continues)
    write_ranks: bool  # write ranks.arrow (valid + test) with the best weights at the end
    device: str  # auto | cpu | cuda | cuda:N (torchrun: cuda:LOCAL_RANK)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TrainSpec":
        if isinstance(data, dict) and "threads" in data:
            raise ConfigError("spec.threads: unknown key (how one call runs, not part of the run: an op arg only)")
        return cls.from_args(TrainArgs.from_json(data, "spec"))

    @classmethod
    def from_args(cls, args: TrainArgs) -> "TrainSpec":
        """The spec of a `train` call (its `threads` say how to run the call, not what the run is)."""
        if args.stop_after_epoch is not None and args.stop_after_epoch < 1:
            raise ConfigError(f"spec.stop_after_epoch: expected an integer >= 1 or null, got {args.stop_after_epoch!r}")
        for key in ("run_dir", "split_dir"):
            if not getattr(args, key):
                raise ConfigError(f"spec.{key}: required, a directory path")
        return cls(
            run_dir=args.run_dir,
            split_dir=args.split_dir,
            store=args.store or None,
            recommender=from_dict(RecommenderConfig, args.recommender, "recommender"),
            train=from_dict(TrainConfig, args.train, "train"),
            resume=args.resume,
            stop_after_epoch=args.stop_after_epoch,
            write_ranks=args.write_ranks,
            device=args.device,
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
