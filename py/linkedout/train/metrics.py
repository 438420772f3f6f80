"""HR@K and NDCG@K from exact 1-based ranks, and the validation metric that picks the best epoch.

One relevant item per user (its target), so (MicroLens Code/VideoRec/SASRec/utils/metrics.py):

    HR@K   = mean over users of [rank <= K]
    NDCG@K = mean over users of [rank <= K] / log2(rank + 1)          (IDCG = 1)

This is the Python implementation; the reported metrics are computed by ts/metrics/metrics.ts. Both
suites check their implementation against the same hand-derived fixture, schemas/fixtures/metrics.json
(py/tests/train/test_metrics.py, test/metrics/metrics.test.ts), so the two cannot drift apart.

`train.select_metric` ("hr@10", "ndcg@20", ...; schemas/config/train.schema.json) names the validation
metric that decides which epoch is kept (best.pt) and when training stops early.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from linkedout.model.config import ConfigError

METRICS = ("hr", "ndcg")
_SELECT = re.compile(r"^(hr|ndcg)@([1-9][0-9]*)$")


def hit_rate(ranks: np.ndarray, k: int) -> float:
    """HR@K of 1-based ranks (0.0 for no users)."""
    return float((ranks <= k).mean()) if len(ranks) else 0.0


def ndcg(ranks: np.ndarray, k: int) -> float:
    """NDCG@K of 1-based ranks (0.0 for no users)."""
    if not len(ranks):
        return 0.0
    ranks = np.asarray(ranks, dtype=np.float64)
    return float(np.where(ranks <= k, 1.0 / np.log2(ranks + 1.0), 0.0).mean())


def metric(name: str, ranks: np.ndarray, k: int) -> float:
    return hit_rate(ranks, k) if name == "hr" else ndcg(ranks, k)


@dataclass(frozen=True)
class SelectMetric:
    """The validation metric that picks the best epoch, e.g. hr@10."""

    name: str  # hr | ndcg
    k: int

    @classmethod
    def parse(cls, text: str, where: str = "train.select_metric") -> "SelectMetric":
        m = _SELECT.match(text.strip().lower()) if isinstance(text, str) else None
        if m is None:
            raise ConfigError(f"{where}: expected hr@K or ndcg@K (K >= 1), got {text!r}")
        return cls(m.group(1), int(m.group(2)))

    def __str__(self) -> str:
        return f"{self.name}@{self.k}"

    @property
    def label(self) -> str:
        """For people: HR@10, NDCG@20."""
        return f"{self.name.upper()}@{self.k}"

    def columns(self) -> dict[str, tuple[str, int]]:
        """epochs.arrow's per-epoch validation columns: HR and NDCG at the selection cut-off
        (valid_hr10 and valid_ndcg10 for the default hr@10)."""
        return {f"valid_{name}{self.k}": (name, self.k) for name in METRICS}

    def of(self, ranks: np.ndarray) -> float:
        return metric(self.name, ranks, self.k)
