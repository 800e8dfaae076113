"""The shape of the core: the domain does no I/O and reads no clock; nothing imports in a
circle; the domain never reaches into the use cases, the read models or the adapters.

Read from the source with ``ast`` (nothing is imported), so a violation anywhere in a
module, even in a function that no test calls, is found.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import leadflow

PACKAGE = Path(leadflow.__file__).resolve().parent
CORE = ("domain", "service")

FORBIDDEN_IN_DOMAIN = {
    # I/O, persistence, logging, the network, the process
    "eventsourcing", "sqlalchemy", "psycopg", "sqlite3", "kafka", "httpx", "fastapi",
    "uvicorn", "structlog", "logging", "os", "sys", "io", "pathlib", "socket", "subprocess",
    "shutil", "tempfile", "importlib", "urllib", "http", "rich", "typer",
    # time and chance: a decision must be reproducible from its inputs
    "time", "random", "secrets", "uuid.uuid4",
    # the outer layers
    "leadflow.service", "leadflow.adapters", "leadflow.projections",
}  # fmt: skip
CLOCK_CALLS = {"now", "utcnow", "today", "uuid4", "uuid1"}


def modules(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).glob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(p for p in parts if p != "__init__")


def runtime_imports(tree: ast.AST) -> list[str]:
    """Every module imported when the code runs (``if TYPE_CHECKING:`` blocks excluded)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for child in ast.walk(node))
    found: list[str] = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found += [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN_IN_DOMAIN)


@pytest.mark.parametrize("path", modules("domain"), ids=lambda p: p.name)
def test_the_domain_imports_no_io_library_and_no_outer_layer(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))

    bad = sorted({name for name in runtime_imports(tree) if forbidden(name)})

    assert bad == [], f"{module_name(path)} imports {bad}"


@pytest.mark.parametrize("path", modules("domain"), ids=lambda p: p.name)
def test_the_domain_reads_no_clock(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))

    calls = [
        ast.unparse(node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute | ast.Name)
        and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
        in CLOCK_CALLS
    ]

    assert calls == [], f"{module_name(path)} reads the clock or chance: {calls}"


def import_graph() -> dict[str, set[str]]:
    paths = [p for layer in CORE for p in modules(layer)]
    names = {module_name(p) for p in paths}
    graph: dict[str, set[str]] = {}
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[module_name(path)] = {
            n for n in runtime_imports(tree) if n in names and n != module_name(path)
        }
    return graph


def cycle_in(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the graph as a path of module names, or ``None``."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_module_of_the_core_imports_another_in_a_circle() -> None:
    assert cycle_in(import_graph()) is None


def test_the_cycle_check_finds_a_cycle() -> None:
    assert cycle_in({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle_in({"a": {"b"}, "b": set()}) is None


def test_the_checks_see_what_they_look_for() -> None:
    tree = ast.parse(
        "import structlog\nfrom datetime import datetime\n"
        "if TYPE_CHECKING:\n    import sqlalchemy\n"
        "def f():\n    from leadflow.adapters import store\n    return datetime.now()\n"
    )
    imported = runtime_imports(tree)
    assert [n for n in imported if forbidden(n)] == [
        "structlog",
        "leadflow.adapters",
        "leadflow.adapters.store",
    ]
    assert "sqlalchemy" not in imported
