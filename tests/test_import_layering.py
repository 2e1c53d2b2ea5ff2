"""The core knows nothing of its edges: no core package imports a transport, and rpc does no I/O.

Read from the source with ``ast`` (not by importing), so a violation is found even in a module no test imports.
"""

from __future__ import annotations

import ast
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "cc_executor"
CORE = {"jobs", "timing", "hooks", "agents", "rpc", "security", "config", "executor"}
EDGES = {"server", "client", "cli", "mcp"}


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


def _imports(path: Path) -> set[str]:
    """Absolute names of the cc_executor modules that ``path`` imports."""
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    here = list(relative.parts[:-1])  # the package a relative import starts from
    found: set[str] = set()
    for node in ast.walk(_parse(path)):
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

