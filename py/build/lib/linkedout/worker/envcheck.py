"""`python -m linkedout.worker.envcheck [requirements.txt]`: one JSON line describing this Python.

Used by `lo-exp doctor` before it starts a worker, so a broken environment is reported as "package X
is missing / has version Y, requirements.txt pins Z" instead of an import traceback.
"""

from __future__ import annotations

import json
import platform
import re
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

_PIN = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s#;]+)")


def pinned(requirements: Path) -> dict[str, str]:
    """name -> pinned version for every `name==version` line."""
    out = {}
    for line in requirements.read_text().splitlines():
        m = _PIN.match(line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def report(requirements: Path) -> dict[str, Any]:
    packages = []
    for name, want in pinned(requirements).items():
        try:
            have: str | None = version(name)
        except PackageNotFoundError:
            have = None
        # local version labels (2.15.0+cpu) still satisfy a pin of 2.15.0
        packages.append({"name": name, "pinned": want, "installed": have,
                         "ok": have is not None and have.split("+")[0] == want})
    return {"python": platform.python_version(), "executable": sys.executable, "packages": packages}


if __name__ == "__main__":
    req = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[3] / "requirements.txt"
    print(json.dumps(report(req)))
