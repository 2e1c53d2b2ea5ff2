"""The core knows nothing of its edges: no core package imports a transport, and rpc does no I/O.

Read from the source with ``ast`` (not by importing), so a violation is found even in a module no test imports.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "cc_executor"
CORE = {"jobs", "timing", "hooks", "agents", "budgets", "notify", "rpc", "security", "config", "executor", "cluster"}
EDGES = {"server", "client", "cli", "mcp", "dashboard"}
UNITS = CORE | EDGES | {"protocol"}


def _parse(path: Path) -> ast.Module:
    """Parse in a fresh thread: CPython 3.11.7's parser keeps a per-thread recursion count that an earlier
    RecursionError in the same thread (the policy's deep-nesting tests) leaves wrong, and then fails with
    "SystemError: AST constructor recursion depth mismatch"."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(ast.parse, path.read_text()).result()


def _unit(module: str) -> str:
    """``cc_executor.jobs.manager`` -> ``jobs``; ``cc_executor.config`` -> ``config``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _is_type_checking(node: ast.AST) -> bool:
    """``if TYPE_CHECKING:`` or ``if typing.TYPE_CHECKING:``."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """Like ``ast.walk`` (without ``node`` itself), but skipping the body of ``if TYPE_CHECKING:`` blocks:
    their imports are for the type checker and never run."""
    for child in ast.iter_child_nodes(node):
        if _is_type_checking(child):
            assert isinstance(child, ast.If)
            for other in child.orelse:
                yield other
                yield from _runtime_nodes(other)
            continue
        yield child
        yield from _runtime_nodes(child)


def _imports(path: Path, runtime_only: bool = False) -> set[str]:
    """Absolute names of the cc_executor modules that ``path`` imports (``runtime_only``: not those under
    ``if TYPE_CHECKING:``)."""
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    here = list(relative.parts[:-1])  # the package a relative import starts from
    found: set[str] = set()
    tree = _parse(path)
    for node in _runtime_nodes(tree) if runtime_only else ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("cc_executor"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.startswith("cc_executor"):
                found.add(name)
    return found


def test_no_core_package_imports_an_edge() -> None:
    violations = []
    for path in PACKAGE.rglob("*.py"):
        unit = _unit(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
        if unit not in CORE:
            continue
        for name in _imports(path):
            if _unit(name) in EDGES:
                violations.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert not violations, "\n".join(violations)


def test_rpc_does_no_io() -> None:
    forbidden = {"asyncio.subprocess", "socket", "subprocess", "websockets", "starlette", "fastapi", "uvicorn"}
    for path in (PACKAGE / "rpc").rglob("*.py"):
        tree = _parse(path)
        names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        names |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not {n for n in names if n.split(".")[0] in forbidden or n in forbidden}, path


def _unit_graph() -> dict[str, dict[str, str]]:
    """``{unit: {unit it imports at run time: one module that does, for the message}}``."""
    graph: dict[str, dict[str, str]] = {unit: {} for unit in UNITS}
    for path in sorted(PACKAGE.rglob("*.py")):
        unit = _unit(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
        if unit not in UNITS:
            continue
        for name in sorted(_imports(path, runtime_only=True)):
            other = _unit(name)
            if other in UNITS and other != unit:
                graph[unit].setdefault(other, str(path.relative_to(PACKAGE)))
    return graph


def _cycles(graph: dict[str, dict[str, str]]) -> list[list[str]]:
    """One cycle for each edge that closes one in a depth-first walk: none found means there is none."""
    cycles: list[list[str]] = []
    done: set[str] = set()
    path: list[str] = []

    def visit(unit: str) -> None:
        path.append(unit)
        for other in sorted(graph[unit]):
            if other in path:
                cycles.append([*path[path.index(other) :], other])
            elif other not in done:
                visit(other)
        path.pop()
        done.add(unit)

    for unit in sorted(graph):
        if unit not in done:
            visit(unit)
    return cycles


def test_no_import_cycle_between_packages() -> None:
    """Each package can be read (and tested) with only those below it; a cycle makes two packages one."""
    graph = _unit_graph()
    found = [
        " -> ".join(f"{a} ({graph[a][b]})" for a, b in pairwise(cycle)) + f" -> {cycle[-1]}" for cycle in _cycles(graph)
    ]
    assert not found, "import cycles between cc_executor packages:\n" + "\n".join(found)


def test_protocol_imports_no_other_package() -> None:
    """The protocol is what every side shares; it must stand on its own (type-checking imports included)."""
    violations = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in (PACKAGE / "protocol").rglob("*.py")
        for name in _imports(path)
        if _unit(name) != "protocol"
    ]
    assert not violations, "\n".join(violations)
