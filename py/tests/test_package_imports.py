"""Dependencies between the packages of py/linkedout go one way (docs/architecture.md, "Rooms").

Every import is read from the source with ``ast`` — module level and function-local alike — and
mapped to the ``linkedout.<package>`` it lands in. Each package may import only the packages its row
of ``MAY_IMPORT`` lists (itself always), and the package graph has no cycle.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "linkedout"

# The rooms, top (applications) to bottom (formats and the op API). Keep docs/architecture.md in step.
MAY_IMPORT: dict[str, set[str]] = {
    "worker": {"bench", "data", "extract", "model", "protocol", "report", "serve", "store", "train", "config", "util"},  # the app: its op table lists every op
    "bench": {"data", "extract", "model", "protocol", "serve", "store", "train", "config", "util"},  # benchmarks call product functions
    "cluster": {"extract", "store", "config", "util"},  # launchers of the extraction work unit on cluster engines (Ray)
    "serve": {"extract", "model", "protocol", "store", "train", "config", "util"},  # online ranking, cold-start onboarding
    "report": {"protocol", "config", "util"},
    "train": {"model", "store", "protocol", "config", "util"},
    "extract": {"store", "protocol", "config", "util"},
    "data": {"protocol", "config", "util"},
    "model": {"config", "util"},
    "store": {"config", "util"},  # file formats: TokenStore, EmbeddingStore
    "protocol": {"config"},  # the op API every op module uses; op args typed from schemas/ (config.typed)
    "config": set(),  # config defaults read from schemas/
    "util": set(),  # atomic file writes: below everything, imports nothing
}


def _package_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "linkedout" and len(parts) > 1 else None


def package_imports(root: Path = ROOT) -> dict[str, dict[str, list[str]]]:
    """{importing package: {imported package: [files]}} over every .py file under ``root`` (the
    ``linkedout`` folder), imports of other packages only."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for file in sorted(root.rglob("*.py")):
        rel = file.relative_to(root.parent).with_suffix("")
        module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        here = module.split(".") if rel.name == "__init__" else module.split(".")[:-1]  # the enclosing package
        source = _package_of(module)
        if source is None:
            continue
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [node.module]
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(here[: len(here) - node.level + 1])
                targets = [f"{base}.{node.module}"] if node.module else [f"{base}.{a.name}" for a in node.names]
            for target in targets:
                package = _package_of(target)
                if package is not None and package != source:
                    graph[source][package].append(str(file.relative_to(root.parent)))
    return graph


def find_cycles(graph: dict[str, dict[str, list[str]]]) -> list[str]:
    """Each cycle met by a depth-first walk, as `a -> b -> a`."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles: list[str] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == 1:
                ring = path + [node]
                cycles.append(" -> ".join(ring[ring.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [node])
        state[node] = 2

    for package in sorted(graph):
        if package not in state:
            visit(package, [])
    return cycles


def test_every_package_has_a_row() -> None:
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    assert packages == set(MAY_IMPORT), "add the new package to MAY_IMPORT and docs/architecture.md"


def test_packages_import_only_what_their_row_allows() -> None:
    bad = [
        f"{src} -> {dst} ({', '.join(sorted(set(files)))})"
        for src, targets in package_imports().items()
        for dst, files in targets.items()
        if dst not in MAY_IMPORT[src]
    ]
    assert bad == []


def test_no_cycles_between_packages() -> None:
    assert find_cycles(package_imports()) == []


def test_the_check_sees_function_local_and_relative_imports(tmp_path: Path) -> None:
    root = tmp_path / "linkedout"
    for package, source in {
        "a": "from ..b import thing\n",  # relative, module level
        "b": "def f():\n    from linkedout.c.mod import x\n    return x\n",  # absolute, inside a function
        "c": "import linkedout.a.mod\n",
    }.items():
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
        (root / package / "mod.py").write_text(source)
    graph = package_imports(root)
    assert {src: sorted(dst) for src, dst in graph.items()} == {"a": ["b"], "b": ["c"], "c": ["a"]}
    assert find_cycles(graph) == ["a -> b -> c -> a"]
