"""Dependencies between the packages of py/linkedout go one way (docs/architecture.md, "Rooms").

Every import is read from the source with ``ast`` — module level and function-local alike, and the
literal names given to ``importlib.import_module`` / ``__import__`` — and resolved to the module it
lands in. Each package may import only the packages its row of ``docs/rooms.json`` lists (itself
always; that file is the one place the rules are written), and neither the packages nor the modules
import each other in a circle. ``linkedout/__init__.py`` is a room of its own (``linkedout``).
"""

from __future__ import annotations

import ast
import json
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "linkedout"
ROOMS = json.loads((Path(__file__).resolve().parents[2] / "docs" / "rooms.json").read_text())["python"]["rooms"]
MAY_IMPORT: dict[str, set[str]] = {r["room"]: set(r["may_import"]) for r in ROOMS}
DYNAMIC_IMPORTS = {"import_module", "__import__"}  # importlib.import_module(name, package), __import__(name)


def _modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under ``root`` (the ``linkedout`` folder)."""
    out = {}
    for file in sorted(root.rglob("*.py")):
        rel = file.relative_to(root.parent).with_suffix("")
        out[".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)] = file
    return out


def room_of(module: str, root: Path = ROOT) -> str:
    """The package a module belongs to: ``linkedout.<package>``, or ``linkedout`` for the package root."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and (root / parts[1] / "__init__.py").exists() else "linkedout"


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module of ours that importing ``name`` runs last (``a.b.f`` -> ``a.b``), or None if it is not ours."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def module_imports(root: Path = ROOT) -> tuple[dict[str, set[str]], list[str]]:
    """{module: {modules of ours it imports}}, and every import whose name is computed (invisible here)."""
    modules = _modules(root)
    graph: dict[str, set[str]] = {}
    computed: list[str] = []
    for module, file in modules.items():
        here = module.split(".") if file.name == "__init__.py" else module.split(".")[:-1]  # the enclosing package

        def absolute(level: int, name: str | None) -> str:
            return ".".join(here[: len(here) - level + 1] + ([name] if name else []))

        targets: list[str] = []
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            if isinstance(node, ast.Import):
                targets += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = (node.module or "") if node.level == 0 else absolute(node.level, node.module)
                # `from pkg import mod` imports the module pkg.mod; `from mod import name` imports mod
                targets += [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            elif isinstance(node, ast.Call) and _called_name(node.func) in DYNAMIC_IMPORTS and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    name = arg.value
                    if name.startswith("."):  # relative to the package= argument; we only resolve __package__ / __name__
                        level = len(name) - len(name.lstrip("."))
                        name = absolute(level, name.lstrip(".") or None)
                    targets.append(name)
                else:
                    computed.append(f"{file.relative_to(root.parent)}:{node.lineno}: {ast.unparse(node)}")
        graph[module] = {t for t in (_resolve(t, modules) for t in targets) if t is not None and t != module}
    return graph, computed


def _called_name(func: ast.expr) -> str | None:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def package_imports(root: Path = ROOT) -> dict[str, dict[str, list[str]]]:
    """{importing package: {imported package: [files]}}, imports of other packages only."""
    modules = _modules(root)
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for module, targets in module_imports(root)[0].items():
        for target in targets:
            src, dst = room_of(module, root), room_of(target, root)
            if src != dst:
                graph[src][dst].append(str(modules[module].relative_to(root.parent)))
    return graph


def find_cycles(graph: dict[str, set[str]] | dict[str, dict[str, list[str]]]) -> list[str]:
    """Each cycle met by a depth-first walk, as `a -> b -> a`."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles: list[str] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                ring = path + [node]
                cycles.append(" -> ".join(ring[ring.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return cycles


def test_every_package_has_a_row() -> None:
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()} | {"linkedout"}
    assert packages == set(MAY_IMPORT), "add the new package to docs/rooms.json (then `npm run gen:rooms`)"


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


def test_no_cycles_between_modules_inside_a_package_or_across() -> None:
    assert find_cycles(module_imports()[0]) == []


def test_every_dynamic_import_names_its_module_literally() -> None:
    assert module_imports()[1] == []


# -- the check itself, on planted trees -------------------------------------------------------------


def _plant(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "linkedout"
    for rel, source in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in [p for p in path.parents if p != root.parent and root in [p, *p.parents]]:
            (parent / "__init__.py").touch()
        path.write_text(source)
    return root


def test_the_check_sees_function_local_and_relative_imports(tmp_path: Path) -> None:
    root = _plant(tmp_path, {
        "a/mod.py": "from ..b import thing\n",  # relative, module level
        "b/mod.py": "def f():\n    from linkedout.c.mod import x\n    return x\n",  # absolute, inside a function
        "c/mod.py": "import linkedout.a.mod\n",
    })
    graph = package_imports(root)
    assert {src: sorted(dst) for src, dst in graph.items()} == {"a": ["b"], "b": ["c"], "c": ["a"]}
    assert find_cycles(graph) == ["a -> b -> c -> a"]


def test_the_check_sees_a_cycle_between_modules_of_one_package(tmp_path: Path) -> None:
    root = _plant(tmp_path, {
        "a/x.py": "from .y import g\n\ndef f():\n    return g\n",
        "a/y.py": "def g():\n    from . import x\n    return x\n",  # `from . import x`: the module a.x
        "b/z.py": "from ..a.x import f\n",
    })
    assert find_cycles(package_imports(root)) == []
    assert find_cycles(module_imports(root)[0]) == ["linkedout.a.x -> linkedout.a.y -> linkedout.a.x"]


def test_the_check_sees_the_package_root(tmp_path: Path) -> None:
    root = _plant(tmp_path, {
        "__init__.py": "from .a.x import f\n",
        "a/x.py": "from linkedout import __version__\n\ndef f():\n    return __version__\n",
    })
    graph = package_imports(root)
    assert {src: sorted(dst) for src, dst in graph.items()} == {"linkedout": ["a"], "a": ["linkedout"]}
    assert find_cycles(graph) == ["a -> linkedout -> a"]


def test_the_check_sees_import_module_strings_and_reports_computed_ones(tmp_path: Path) -> None:
    root = _plant(tmp_path, {
        "a/x.py": "import importlib\n\ndef load():\n    return importlib.import_module('linkedout.b.y')\n",
        "b/y.py": "from importlib import import_module\n\ndef back():\n    return import_module('..a.x', __package__)\n\n"
                  "def any_of(name):\n    return import_module(f'linkedout.{name}')\n",
    })
    graph, computed = module_imports(root)
    assert find_cycles(graph) == ["linkedout.a.x -> linkedout.b.y -> linkedout.a.x"]
    assert computed == ["linkedout/b/y.py:7: import_module(f'linkedout.{name}')"]
