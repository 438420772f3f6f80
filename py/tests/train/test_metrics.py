"""HR@K / NDCG@K against the hand-derived fixture the TypeScript suite reads too, and train.select_metric."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import torch

from linkedout.config import SCHEMA_DIR
from linkedout.model.config import ConfigError
from linkedout.train.loop import train
from linkedout.train.metrics import SelectMetric, hit_rate, ndcg
from linkedout.train.spec import TrainSpec

torch.set_num_threads(1)


def exact(expr: str) -> float:
    """The fixture's values: sums of 'a/b' and 'a/(b log2 c)' terms."""
    total = 0.0
    for term in expr.split(" + "):
        if m := re.fullmatch(r"(\d+)/(\d+)", term):
            total += int(m[1]) / int(m[2])
        elif m := re.fullmatch(r"(\d+)/\((\d+) log2 (\d+)\)", term):
            total += int(m[1]) / (int(m[2]) * math.log2(int(m[3])))
        else:
            raise ValueError(f"schemas/fixtures/metrics.json: cannot read {term!r}")
    return total


def test_hr_and_ndcg_match_the_shared_hand_derived_fixture() -> None:
    fixture = json.loads((SCHEMA_DIR / "fixtures" / "metrics.json").read_text())
    checked = 0
    for case in fixture["cases"]:
        ranks = np.asarray(case["ranks"], dtype=np.int32)  # the dtype ranks.arrow and SplitRanks use
        for want in case["expected"]:
            assert hit_rate(ranks, want["k"]) == pytest.approx(exact(want["hr"]), abs=1e-12), want
            assert ndcg(ranks, want["k"]) == pytest.approx(exact(want["ndcg"]), abs=1e-12), want
            assert SelectMetric.parse(f"ndcg@{want['k']}").of(ranks) == ndcg(ranks, want["k"])
            checked += 1
    assert checked == 10


def test_select_metric_is_parsed_or_refused_in_one_line() -> None:
    assert SelectMetric.parse("hr@10") == SelectMetric("hr", 10) and SelectMetric.parse("NDCG@20").label == "NDCG@20"
    assert list(SelectMetric.parse("hr@10").columns()) == ["valid_hr10", "valid_ndcg10"]
    for bad in ("hr10", "map@10", "hr@0", "ndcg@"):
        with pytest.raises(ConfigError, match=r"^train.select_metric: expected hr@K or ndcg@K"):
            SelectMetric.parse(bad)


def test_the_configured_metric_picks_the_best_epoch_and_stops_early(tiny_data: Any, tmp_path: Path) -> None:
    spec = tiny_data.spec(tmp_path / "run", {"moe": {"top_k": 2, "expert_hidden": 16, "gate_hidden": 8}},
                          epochs=8, select_metric="ndcg@5", early_stopping_patience=2)
    summary = train(TrainSpec.from_json(spec))
    with pa.memory_map(str(tmp_path / "run" / "epochs.arrow")) as f:
        epochs = pa.ipc.open_file(f).read_all()
    assert {"valid_hr5", "valid_ndcg5"} <= set(epochs.column_names) and "valid_hr10" not in epochs.column_names
    values = epochs.column("valid_ndcg5").to_pylist()
    # the running maximum (strictly better) is the kept epoch; stop after `patience` epochs without one
    best, best_epoch, bad, expect_best = -1.0, -1, 0, []
    for epoch, v in enumerate(values):
        expect_best.append(v > best)
        if v > best:
            best, best_epoch, bad = v, epoch, 0
        else:
            bad += 1
    assert epochs.column("best").to_pylist() == expect_best
    assert summary["select_metric"] == "ndcg@5" and summary["best_valid"] == best and summary["best_epoch"] == best_epoch + 1
    assert summary["epochs_done"] == len(values) and (len(values) == 8 or bad == 2)
    assert torch.load(tmp_path / "run" / "best.pt", weights_only=True)["epoch"] == best_epoch + 1
    assert "valid_hr5" in summary and "test_ndcg5" in summary
