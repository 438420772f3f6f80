"""Worker op `plot_report`: a run's PNG plots from its gates.arrow and train_log.arrow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from linkedout.protocol.op import FrameValue, OpContext, OpError, OpResult


def plot_report(args: dict[str, Any], frames: dict[str, FrameValue], ctx: OpContext) -> OpResult:
    """Write gates_kde.png, gates_box.png (if gates_path), training_curves.png (if train_log_path),
    epoch_curves.png (if epochs_path) and table.png (if table_path: an experiment table with error bars).

    Returns the written file names and the per-layer average contribution % (layer -> percent).
    """
    # matplotlib is imported here, not at registry import, so worker start-up stays fast.
    from linkedout.util.arrow import read_arrow

    from .plots import gate_matrix, plot_gate_box, plot_gate_kde, plot_table, plot_training_curves

    out_dir = Path(args["out_dir"])
    title = str(args.get("title", ""))
    written: list[str] = []
    result: dict[str, Any] = {}
    steps = (
        int(bool(args.get("gates_path"))) * 2
        + int(bool(args.get("train_log_path")))
        + int(bool(args.get("epochs_path")))
        + int(bool(args.get("table_path")))
    )
    done = 0
    if args.get("gates_path"):
        path = Path(args["gates_path"])
        if not path.exists():
            raise OpError("NotFound", f"gates file not found: {path}")
        layers, matrix = gate_matrix(read_arrow(path))
        plot_gate_kde(layers, matrix, out_dir / "gates_kde.png", title or "gate weights per layer")
        done += 1
        ctx.progress(done, steps, "plots")
        contribution = plot_gate_box(layers, matrix, out_dir / "gates_box.png", title or "gate weights")
        done += 1
        ctx.progress(done, steps, "plots")
        written += ["gates_kde.png", "gates_box.png"]
        result["contribution_percent"] = {str(ly): float(p) for ly, p in zip(layers, contribution)}
    # Training curves: every numeric column of the per-step and per-epoch logs.
    for key, file_name, what, default_title, result_key in (
        ("train_log_path", "training_curves.png", "training log", "training", "curves"),
        ("epochs_path", "epoch_curves.png", "epoch log", "per epoch", "epoch_curves"),
    ):
        if not args.get(key):
            continue
        path = Path(args[key])
        if not path.exists():
            raise OpError("NotFound", f"{what} not found: {path}")
        result[result_key] = plot_training_curves(read_arrow(path), out_dir / file_name, title or default_title)
        done += 1
        ctx.progress(done, steps, "plots")
        written.append(file_name)
    if args.get("table_path"):
        path = Path(args["table_path"])
        if not path.exists():
            raise OpError("NotFound", f"table file not found: {path}")
        result["table_bars"] = plot_table(read_arrow(path), out_dir / "table.png", title or "experiment table")
        done += 1
        ctx.progress(done, steps, "plots")
        written.append("table.png")
    result["written"] = written
    return OpResult(result)
