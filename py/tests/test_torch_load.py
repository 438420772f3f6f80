"""Every ``torch.load`` in the project passes ``weights_only=True`` (a checkpoint is data, not code to
run), except the files listed here with the reason; a new exception must be added here, with its reason."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# path (relative to the repository) -> why weights_only=True cannot be used there
ALLOWED: dict[str, str] = {
    "py/linkedout/bench/recbole/run_recbole.py": (
        "reads the epoch from RecBole's own checkpoint, which pickles RecBole's Config object "
        "(weights_only=True refuses it); the file was written moments before by the same benchmark process"
    ),
}


def _torch_loads(path: Path) -> list[tuple[int, str | None]]:
    """(line, the weights_only keyword's source or None) of each ``torch.load(...)`` call in a file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load":
            base = node.func.value
            if isinstance(base, ast.Name) and base.id == "torch":
                kw = next((k for k in node.keywords if k.arg == "weights_only"), None)
                out.append((node.lineno, ast.unparse(kw.value) if kw else None))
    return out


def test_every_torch_load_is_weights_only_or_allowed_with_a_reason() -> None:
    files = sorted([*(REPO / "py").rglob("*.py"), *(REPO / "scripts").rglob("*.py")])
    assert files
    offenders, used = [], set()
    for f in files:
        rel = f.relative_to(REPO).as_posix()
        for line, weights_only in _torch_loads(f):
            if weights_only == "True":
                continue
            if rel in ALLOWED:
                used.add(rel)
                assert weights_only == "False", f"{rel}:{line}: say weights_only=False explicitly (allowed: {ALLOWED[rel]})"
                continue
            offenders.append(f"{rel}:{line}: torch.load without weights_only=True")
    assert offenders == []
    assert used == set(ALLOWED), f"allow-list entries no longer needed: {sorted(set(ALLOWED) - used)}"
