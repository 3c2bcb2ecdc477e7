"""The package's shape, checked by reading its source (ast), not by running it.

- no import cycle among tradeops modules: every import counts, at module level, inside
  functions and under ``if TYPE_CHECKING:``, so the dependency graph a newcomer reads is
  the real one;
- no module over about 500 lines (generated migrations aside);
- every file write goes through :mod:`tradeops.files` (the one writer).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tradeops"
MAX_LINES = 500
WRITER = "tradeops.files"


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _owner(name: str) -> str | None:
    """The tradeops module ``name`` lives in (``tradeops.x.y.Name`` -> ``tradeops.x.y``)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str) -> dict[str, int]:
    """The tradeops modules ``module`` imports, each with the line of its first import.
    ``from pkg import sub`` depends on the submodule ``pkg.sub`` only (not on ``pkg``'s
    ``__init__``); ``from pkg import name`` depends on ``pkg``."""
    path = MODULES[module]
    is_package = path.name == "__init__.py"
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            targets = [f"{origin}.{a.name}" if f"{origin}.{a.name}" in MODULES else origin for a in node.names]
        for target in targets:
            owner = _owner(target) if target.startswith("tradeops") else None
            if owner is not None and owner != module:
                found.setdefault(owner, node.lineno)
    return found


def import_graph() -> dict[str, dict[str, int]]:
    return {m: imports_of(m) for m in MODULES}


def strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively; the groups of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    group.append(top)
                    if top == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def test_the_graph_is_read_from_the_source():
    # a known edge of each kind, so that an empty graph cannot pass the cycle test
    graph = import_graph()
    assert "tradeops.signals" in graph["tradeops.research.model"]  # from ..signals import Ranking, register
    assert "tradeops.ledger.api" in graph["tradeops.stages"]  # a function-level `from .ledger import api`
    assert "tradeops.research.backtest" in graph["tradeops.research.report"]  # under `if TYPE_CHECKING:`
    assert strongly_connected({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}) == [["a", "b", "c"]]


def test_no_import_cycle():
    graph = import_graph()
    groups = strongly_connected(graph)
    described = []
    for group in groups:
        members = set(group)
        edges = [f"{a} -> {b} (line {graph[a][b]})" for a in group for b in sorted(graph[a]) if b in members]
        described.append(" <-> ".join(group) + ":\n    " + "\n    ".join(edges))
    assert not groups, "import cycles among tradeops modules:\n" + "\n".join(described)


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines())


def test_no_module_over_the_size_cap():
    sizes = {m: _lines(p) for m, p in MODULES.items() if ".migrations." not in m}
    too_long = {m: n for m, n in sorted(sizes.items()) if n > MAX_LINES}
    assert not too_long, f"modules over {MAX_LINES} lines (split them along their seams): {too_long}"


def _writes(path: Path) -> list[str]:
    """The raw writes in one module: os.replace/os.rename, Path.write_text/write_bytes, and
    open()/os.fdopen() in a write mode ("w", "x" or "+"; appending to a log is allowed)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
        owner = f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else ""
        if name in ("write_text", "write_bytes") or (owner == "os" and name in ("replace", "rename")):
            found.append(f"line {node.lineno}: {ast.unparse(node)[:80]}")
        elif (name == "open" and isinstance(f, ast.Name)) or (owner == "os" and name == "fdopen"):
            mode = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"), None)
            if isinstance(mode, ast.Constant) and isinstance(mode.value, str) and set(mode.value) & set("wx+"):
                found.append(f"line {node.lineno}: {ast.unparse(node)[:80]}")
    return found


def test_every_write_goes_through_the_one_writer():
    assert _writes(MODULES[WRITER]), "the writer's own writes are not recognised: the check below would see nothing"
    offenders = {m: w for m, p in MODULES.items() if m != WRITER and (w := _writes(p))}
    assert not offenders, f"write through {WRITER} (write_atomic, write_json, open_atomic, create_new, move_into): {offenders}"


@pytest.mark.parametrize(
    "source, expected",
    [
        ("p.write_text('x')", 1),
        ("os.replace(a, b)", 1),
        ("open(p, 'w')", 1),
        ("open(p, mode='wb')", 1),
        ("open(p)", 0),
        ("open(p, 'ab')", 0),
        ("s.replace('a', 'b')", 0),
    ],
)
def test_the_write_check_sees_writes(tmp_path, source, expected):
    module = tmp_path / "m.py"
    module.write_text(f"import os\n{source}\n")
    assert len(_writes(module)) == expected
