"""Plots for a run's report, written as PNG files.

Implements the figures of the paper's gate analysis (§4.3, Figs. 4 and 5): the distribution of the
cross-layer MoE gate weight pi_l each tapped layer receives over the catalogue, drawn as a kernel
density per layer (Fig. 4) and as box plots annotated with the layer's average contribution in
percent (Fig. 5; the average of pi_l over items, which sums to 100 % across layers because the gate
is a softmax). We plot one run's gates per figure; the paper overlays datasets, which here are runs.

Also training curves: every numeric column of train_log.arrow against epoch (or step).

Inputs are the run's Arrow files:
  gates.arrow      item utf8, gates fixed_size_list<float32>[T], metadata taps (the training loop's
                   format), or long format item utf8, layer int32, gate float32
  train_log.arrow  step and/or epoch, then numeric columns (loss, ce, grad_norm, lr_*, ...)
  epochs.arrow     epoch, then per-epoch columns (valid_hr<K>, valid_ndcg<K>, train_loss, ...)
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.mlab import GaussianKDE  # noqa: E402

from ..util.atomic import write_atomic  # noqa: E402
from linkedout.util.arrow import read_arrow


def gate_matrix(gates: pa.Table) -> tuple[list[int], np.ndarray]:
    """Gates -> (tapped layer indices, [items, layers] float64 matrix).

    Reads the training loop's format (`item`, `gates` fixed_size_list<float32>[T], schema metadata
    `taps` = JSON list of layer indices; py/linkedout/train/outputs.py) or a long format
    (`item`, `layer`, `gate`, one row per item x layer).
    """
    names = gates.column_names
    if "gates" in names:
        values = gates.column("gates").combine_chunks()
        width = values.type.list_size if pa.types.is_fixed_size_list(values.type) else None
        if width is None:
            raise ValueError(f"gates column must be fixed_size_list<float32>, got {values.type}")
        matrix = values.flatten().to_numpy(zero_copy_only=False).astype(np.float64).reshape(-1, width)
        meta = gates.schema.metadata or {}
        taps = json.loads(meta[b"taps"]) if b"taps" in meta else list(range(width))
        if len(taps) != width:
            raise ValueError(f"gates metadata lists {len(taps)} taps but rows have {width} gates")
        return [int(t) for t in taps], matrix
    for col in ("item", "layer", "gate"):
        if col not in names:
            raise ValueError(f"gates table has no column {col!r} (has {names})")
    items = gates.column("item").to_pylist()
    layers = gates.column("layer").to_numpy().astype(np.int64)
    values_long = gates.column("gate").to_numpy().astype(np.float64)
    layer_ids = sorted(set(layers.tolist()))
    item_ids = sorted(set(items))
    row = {it: i for i, it in enumerate(item_ids)}
    col = {ly: j for j, ly in enumerate(layer_ids)}
    matrix = np.full((len(item_ids), len(layer_ids)), np.nan)
    for it, ly, v in zip(items, layers.tolist(), values_long.tolist()):
        matrix[row[it], col[ly]] = v
    if np.isnan(matrix).any():
        raise ValueError("gates table is missing some (item, layer) pairs")
    return layer_ids, matrix


def average_contribution_percent(matrix: np.ndarray) -> np.ndarray:
    """Mean gate weight per layer over items, in percent ([layers])."""
    return 100.0 * matrix.mean(axis=0)


def _save(fig: Figure, path: Path) -> None:
    """Write the PNG under a temporary name, then rename: no half-written plot is ever seen."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight"), suffix=".tmp.png")  # the suffix picks the format
    finally:
        plt.close(fig)


def layer_label(layer: int) -> str:
    """The paper's Fig. 4/5 name for 0-based decoder layer ``layer``: L0, L4, ..."""
    return f"L{layer}"


def plot_gate_kde(layer_ids: list[int], matrix: np.ndarray, path: Path, title: str) -> None:
    """Fig. 4 style: one kernel density curve of pi_l over items per tapped layer."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    grid = np.linspace(0.0, max(1e-6, float(matrix.max())) * 1.05, 256)
    for j, layer in enumerate(layer_ids):
        values = matrix[:, j]
        if values.size > 1 and float(values.std()) > 1e-9:
            density = GaussianKDE(values)(grid)
            ax.plot(grid, density, label=layer_label(layer))
        else:  # a constant gate has no density; mark where it sits
            ax.axvline(float(values.mean()), linestyle="--", label=f"{layer_label(layer)} (constant)")
    ax.set_xlabel("gate weight π_l")
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend(fontsize="small", ncols=2)
    _save(fig, path)


def plot_gate_box(layer_ids: list[int], matrix: np.ndarray, path: Path, title: str) -> np.ndarray:
    """Fig. 5 style: a box plot of pi_l per layer, labelled with its average contribution %."""
    contribution = average_contribution_percent(matrix)
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    # As the paper's Fig. 5: red median line, blue dashed mean line.
    ax.boxplot(
        [matrix[:, j] for j in range(len(layer_ids))],
        showfliers=False,
        showmeans=True,
        meanline=True,
        medianprops={"color": "tab:red"},
        meanprops={"color": "tab:blue", "linestyle": "--"},
    )
    ax.set_xticks(range(1, len(layer_ids) + 1), [layer_label(ly) for ly in layer_ids])
    top = float(matrix.max())
    for j, pct in enumerate(contribution):
        ax.annotate(f"{pct:.1f}%", (j + 1, top), textcoords="offset points", xytext=(0, 4), ha="center", fontsize="small")
    ax.set_ylim(0.0, top * 1.15 + 1e-6)
    ax.set_ylabel("gate weight π_l")
    ax.set_title(f"{title} — average contribution per layer")
    _save(fig, path)
    return contribution


def _is_plottable(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)


def plot_training_curves(log: pa.Table, path: Path, title: str) -> list[str]:
    """Every numeric column of a log against step (else epoch, else row), one panel each."""
    names = log.column_names
    x_name = "step" if "step" in names else "epoch" if "epoch" in names else None
    x = log.column(x_name).to_numpy().astype(np.float64) if x_name else np.arange(log.num_rows, dtype=np.float64)
    series = [
        n for n in names
        if n not in ("epoch", "step") and _is_plottable(log.schema.field(n).type)
    ]
    if not series:
        raise ValueError(f"training log has no numeric columns to plot (has {names})")
    fig, axes = plt.subplots(len(series), 1, figsize=(6.4, 2.2 * len(series)), sharex=True, squeeze=False)
    for ax, name in zip(axes[:, 0], series):
        y = log.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
        ax.plot(x, y, marker="o" if log.num_rows < 30 else None, markersize=3)
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel(x_name or "row")
    axes[0, 0].set_title(title)
    _save(fig, path)
    return series


def plot_table(table: pa.Table, path: Path, title: str) -> list[dict[str, object]]:
    """An experiment table's metrics (table.arrow, ts/schedule/table.ts) with 95 % error bars.

    One panel per slice x metric column; per table row a bar at the mean over seeds, an error bar
    over its bootstrap interval (test users and seeds, docs/results.md) and a dot per seed. A row
    whose paired difference from the baseline row excludes 0 is labelled with ▲ or ▼.
    Returns, per panel, the error bars as drawn (row, mean, low, high) read back from the axes.
    """
    rows = table.to_pylist()
    if not rows:
        raise ValueError("table.arrow has no rows")
    labels = list(dict.fromkeys(r["row"] for r in rows))
    panels = list(dict.fromkeys((r["slice"], r["metric"], r["k"]) for r in rows))
    cols = len({(m, k) for _, m, k in panels})
    nrows = -(-len(panels) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols, 0.5 * len(labels) + 2.2 * nrows), squeeze=False)
    drawn: list[dict[str, object]] = []
    for ax, (slice_name, metric, k) in zip(axes.flat, panels):
        cell = {r["row"]: r for r in rows if (r["slice"], r["metric"], r["k"]) == (slice_name, metric, k)}
        present = [lb for lb in labels if lb in cell]
        y = np.arange(len(present), dtype=np.float64)
        mean = np.array([cell[lb]["mean"] for lb in present])
        low = np.array([cell[lb]["ci_low"] for lb in present])
        high = np.array([cell[lb]["ci_high"] for lb in present])
        ax.barh(y, mean, color="#9ecae1", height=0.6)
        bars = ax.errorbar(mean, y, xerr=np.vstack([mean - low, high - mean]), fmt="none", ecolor="black", capsize=3, lw=1)
        for i, lb in enumerate(present):
            vals = cell[lb]["values"] or []
            ax.plot(vals, [y[i]] * len(vals), "o", color="#08519c", markersize=3)
        ticks = []
        for lb in present:
            r = cell[lb]
            mark = ""
            if r.get("significant"):
                mark = " ▲" if (r.get("difference") or 0) > 0 else " ▼"
            ticks.append(f"{lb}{mark}")
        ax.set_yticks(y, ticks, fontsize=7)
        ax.invert_yaxis()
        ax.set_title(f"{slice_name}: {'HR' if metric == 'hr' else 'NDCG'}@{k}", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
        # read the bars back from the artist: what the figure shows, not what was passed in
        segments = bars.lines[2][0].get_segments()
        drawn.append({
            "slice": slice_name, "metric": metric, "k": int(k),
            "bars": [{"row": lb, "mean": float(mean[i]), "low": float(seg[0][0]), "high": float(seg[1][0])} for i, (lb, seg) in enumerate(zip(present, segments))],
        })
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    seeds = rows[0]["seeds"] or []
    fig.suptitle(f"{title} — mean{' over %d seeds' % len(seeds) if len(seeds) > 1 else ''}, 95 % interval; dots: seeds", fontsize=10)
    fig.tight_layout()
    _save(fig, path)
    return drawn
