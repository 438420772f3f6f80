"""Tests for py/linkedout/report: gate plots (Figs. 4-5 style) and training curves, via the op handler."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest
import torch
from PIL import Image

from linkedout.report.ops import plot_report
from linkedout.report.plots import gate_matrix
from linkedout.protocol.op import OpContext, OpError


def write_arrow(path: Path, table: pa.Table) -> None:
    with ipc.new_file(str(path), table.schema) as writer:
        writer.write_table(table)


def gates_table(rows: list[tuple[str, int, float]]) -> pa.Table:
    return pa.table({
        "item": pa.array([r[0] for r in rows], pa.utf8()),
        "layer": pa.array([r[1] for r in rows], pa.int32()),
        "gate": pa.array([r[2] for r in rows], pa.float32()),
    })


def png_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        assert im.format == "PNG"
        return im.size


@pytest.fixture
def ctx() -> OpContext:
    events: list[dict] = []
    c = OpContext(torch.device("cpu"), {}, events.append, min_progress_interval_s=0.0)
    c.events = events  # type: ignore[attr-defined]
    return c


def test_gate_plots_and_average_contribution(tmp_path: Path, ctx: OpContext) -> None:
    # three items, softmax-like gates over layers 4, 12, 20; layer means 0.2, 0.3, 0.5
    rows = [
        ("a", 4, 0.1), ("a", 12, 0.3), ("a", 20, 0.6),
        ("b", 4, 0.2), ("b", 12, 0.4), ("b", 20, 0.4),
        ("c", 4, 0.3), ("c", 12, 0.2), ("c", 20, 0.5),
    ]
    write_arrow(tmp_path / "gates.arrow", gates_table(rows))
    out = plot_report({"out_dir": str(tmp_path / "plots"), "gates_path": str(tmp_path / "gates.arrow"), "title": "toy"}, {}, ctx)
    assert out.result["written"] == ["gates_kde.png", "gates_box.png"]
    assert out.result["contribution_percent"] == pytest.approx({"4": 20.0, "12": 30.0, "20": 50.0}, abs=1e-4)
    for name in ("gates_kde.png", "gates_box.png"):
        w, h = png_size(tmp_path / "plots" / name)
        assert w > 300 and h > 200
    assert not [p for p in (tmp_path / "plots").iterdir() if p.name.startswith(".")]  # no temp files left
    assert [e["done"] for e in ctx.events] == [1, 2]  # type: ignore[attr-defined]


def test_constant_gate_layer_is_drawn_without_density(tmp_path: Path, ctx: OpContext) -> None:
    rows = [(f"i{k}", ly, g) for k in range(5) for ly, g in ((0, 0.5), (1, 0.25 + 0.05 * k), (2, 0.25 - 0.05 * k))]
    write_arrow(tmp_path / "g.arrow", gates_table(rows))
    out = plot_report({"out_dir": str(tmp_path), "gates_path": str(tmp_path / "g.arrow")}, {}, ctx)
    assert out.result["contribution_percent"]["0"] == pytest.approx(50.0)
    assert (tmp_path / "gates_kde.png").stat().st_size > 1000


def test_reads_the_training_loops_wide_gates_format(tmp_path: Path, ctx: OpContext) -> None:
    from linkedout.train.outputs import gates_table as train_gates_table

    gates = np.array([[0.1, 0.9], [0.3, 0.7], [0.2, 0.8], [0.2, 0.8]], dtype=np.float32)
    write_arrow(tmp_path / "gates.arrow", train_gates_table(["a", "b", "c", "d"], gates, [5, 11], None))
    out = plot_report({"out_dir": str(tmp_path), "gates_path": str(tmp_path / "gates.arrow")}, {}, ctx)
    assert out.result["contribution_percent"] == pytest.approx({"5": 20.0, "11": 80.0}, abs=1e-4)


def test_gate_matrix_rejects_missing_pairs() -> None:
    with pytest.raises(ValueError, match="missing some"):
        gate_matrix(gates_table([("a", 0, 0.5), ("a", 1, 0.5), ("b", 0, 1.0)]))
    with pytest.raises(ValueError, match="no column 'gate'"):
        gate_matrix(pa.table({"item": ["a"], "layer": pa.array([0], pa.int32())}))


def test_training_curves_plot_numeric_columns(tmp_path: Path, ctx: OpContext) -> None:
    log = pa.table({
        "epoch": pa.array([1, 2, 3], pa.int32()),
        "loss": pa.array([2.0, 1.5, 1.2], pa.float32()),
        "valid_hr@10": pa.array([0.05, 0.08, 0.09], pa.float64()),
        "note": pa.array(["x", "y", "z"]),
    })
    write_arrow(tmp_path / "train_log.arrow", log)
    epochs = pa.table({"epoch": pa.array([1, 2], pa.int32()), "valid_hr10": [0.1, 0.2], "best": [False, True]})
    write_arrow(tmp_path / "epochs.arrow", epochs)
    out = plot_report({"out_dir": str(tmp_path / "p"), "train_log_path": str(tmp_path / "train_log.arrow"),
                       "epochs_path": str(tmp_path / "epochs.arrow")}, {}, ctx)
    assert out.result["curves"] == ["loss", "valid_hr@10"]
    assert out.result["epoch_curves"] == ["valid_hr10", "best"]
    assert out.result["written"] == ["training_curves.png", "epoch_curves.png"]
    w, h = png_size(tmp_path / "p" / "training_curves.png")
    assert h > w * 0.5  # two stacked panels


def test_missing_input_is_a_clear_error(tmp_path: Path, ctx: OpContext) -> None:
    with pytest.raises(OpError, match="gates file not found"):
        plot_report({"out_dir": str(tmp_path), "gates_path": str(tmp_path / "nope.arrow")}, {}, ctx)


def experiment_table() -> pa.Table:
    """A table.arrow as ts/schedule/table.ts writes it: two rows, two seeds, one slice, two columns."""
    cells = [
        # row, metric, k, per-seed values, ci_low, ci_high, significant, difference
        ("A", "hr", 10, [0.30, 0.34], 0.27, 0.37, None, None),
        ("B", "hr", 10, [0.40, 0.44], 0.36, 0.47, True, 0.1),
        ("A", "ndcg", 10, [0.10, 0.12], 0.08, 0.13, None, None),
        ("B", "ndcg", 10, [0.11, 0.12], 0.09, 0.14, False, 0.005),
    ]
    return pa.table({
        "row": [c[0] for c in cells],
        "slice": ["overall"] * 4,
        "metric": [c[1] for c in cells],
        "k": pa.array([c[2] for c in cells], pa.int32()),
        "seeds": pa.array([[0, 1]] * 4, pa.list_(pa.int32())),
        "values": pa.array([c[3] for c in cells], pa.list_(pa.float64())),
        "mean": [sum(c[3]) / 2 for c in cells],
        "ci_low": [c[4] for c in cells],
        "ci_high": [c[5] for c in cells],
        "significant": pa.array([c[6] for c in cells], pa.bool_()),
        "difference": pa.array([c[7] for c in cells], pa.float64()),
    })


def test_table_plot_draws_the_interval_as_error_bars(tmp_path: Path, ctx: OpContext) -> None:
    write_arrow(tmp_path / "table.arrow", experiment_table())
    out = plot_report({"out_dir": str(tmp_path), "table_path": str(tmp_path / "table.arrow"), "title": "t"}, {}, ctx)
    assert out.result["written"] == ["table.png"]
    panels = {(p["metric"], p["k"]): p["bars"] for p in out.result["table_bars"]}
    # the drawn error bars span each row's interval, around its mean
    assert panels[("hr", 10)] == [
        {"row": "A", "mean": pytest.approx(0.32), "low": pytest.approx(0.27), "high": pytest.approx(0.37)},
        {"row": "B", "mean": pytest.approx(0.42), "low": pytest.approx(0.36), "high": pytest.approx(0.47)},
    ]
    assert [b["low"] for b in panels[("ndcg", 10)]] == pytest.approx([0.08, 0.09])
    w, h = png_size(tmp_path / "table.png")
    assert w > 300 and h > 150
