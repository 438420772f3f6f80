"""Checkpoints: written under a temporary name then renamed; read with `torch.load(weights_only=True)` only.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts (nothing pickled beyond what
`weights_only` allows):

    format      "linkedout.checkpoint/1"
    kind        "resume" (checkpoint.pt: everything to continue) | "weights" (best.pt: model only)
    epoch       epochs finished
    shapes      {"n_items", "d_model", "n_taps", "n_prompts", "taps"}  what the model was built for
    recommender, train   the config sections (to_dict)
    model       state_dict
    optimizer, scheduler, scaler, best, bad_epochs, step, log, epoch_log   (resume only)

Any failure to read, a wrong format, or a checkpoint built for different shapes/configs raises
`CheckpointError` naming the file and the mismatch.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from linkedout.util.atomic import write_atomic

FORMAT = "linkedout.checkpoint/1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and what is wrong."""


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Atomic write: a reader (or a crash) never sees a half-written checkpoint."""
    write_atomic(path, lambda tmp: torch.save({"format": FORMAT, **payload}, tmp))


def load_checkpoint(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, OSError, ValueError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path}: corrupt or not a linkedout checkpoint ({first_line})") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        got = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path}: format {got!r}, expected {FORMAT!r}")
    return payload


def _diff(a: Any, b: Any, prefix: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in sorted(set(a) | set(b)):
            out += _diff(a.get(key), b.get(key), f"{prefix}.{key}")
        return out
    return [] if a == b else [f"{prefix}: checkpoint has {a!r}, this run has {b!r}"]


def check_compatible(path: Path, payload: dict[str, Any], shapes: dict[str, Any], recommender: dict[str, Any],
                     train: dict[str, Any] | None, ignore_train_keys: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    """Raise CheckpointError naming the first differences between the checkpoint and this run."""
    problems = _diff(payload.get("shapes"), shapes, "shapes") + _diff(payload.get("recommender"), recommender, "recommender")
    if train is not None:
        theirs = {k: v for k, v in (payload.get("train") or {}).items() if k not in ignore_train_keys}
        ours = {k: v for k, v in train.items() if k not in ignore_train_keys}
        problems += _diff(theirs, ours, "train")
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise CheckpointError(f"{path}: does not match this run: {'; '.join(problems[:3])}{more}")


def load_model_state(path: Path, model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """load_state_dict(strict) with the error turned into one line naming the file and the keys."""
    ours = model.state_dict()
    missing = sorted(set(ours) - set(state))
    unexpected = sorted(set(state) - set(ours))
    shape_diff = [f"{k} {tuple(state[k].shape)} vs {tuple(ours[k].shape)}" for k in ours if k in state and state[k].shape != ours[k].shape]
    if missing or unexpected or shape_diff:
        parts = []
        if missing:
            parts.append(f"missing {missing[:3]}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:3]}")
        if shape_diff:
            parts.append(f"shape mismatch {shape_diff[:3]}")
        raise CheckpointError(f"{path}: model weights do not fit this model: {'; '.join(parts)}")
    model.load_state_dict(state)
