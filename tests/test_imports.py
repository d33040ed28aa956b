"""The import directions of DESIGN.md, read from the source, and no import cycle anywhere.

Every ``import`` counts, also those inside functions (a lazy import is still a dependency):

- ``governance`` imports no langchain, langgraph, httpx, openai, agent or knowledge;
- ``tools`` and ``knowledge`` never import ``agent``;
- inside ``agent``: front ends (``cli``, ``api``, ``web``, ``slack``, ``worker``) → ``operations`` →
  ``run`` → ``offline``, never the other way; ``wiring`` builds things for front ends and operations,
  so ``run`` and ``offline`` never import it;
- no module imports another that (directly or not) imports it back.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("agent", "governance", "tools", "knowledge", "evals")
FRONT_ENDS = ("agent.cli", "agent.api", "agent.web", "agent.slack", "agent.worker")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> dict[str, Path]:
    return {_module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


SOURCES = _sources()


def _imports(module: str) -> Iterator[str]:
    """Every module ``module`` imports, resolved to the longest name that exists (or the raw name)."""
    tree = ast.parse(SOURCES[module].read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:
                package = module if SOURCES[module].name == "__init__.py" else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}"
            yield base
            for alias in node.names:  # ``from agent import wiring`` imports agent.wiring
                if f"{base}.{alias.name}" in SOURCES:
                    yield f"{base}.{alias.name}"


GRAPH = {module: sorted(set(_imports(module))) for module in SOURCES}


def _within(name: str, *prefixes: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def _offenders(sources: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if _within(module, *sources)
        for target in targets
        if _within(target, *forbidden)
    ]


@pytest.mark.parametrize(
    ("sources", "forbidden"),
    [
        (
            ("governance",),
            ("langchain", "langchain_core", "langchain_openai", "langgraph", "httpx", "openai"),
        ),
        (("governance",), ("agent", "knowledge")),
        (("tools", "knowledge"), ("agent",)),
        (("agent.run", "agent.offline"), (*FRONT_ENDS, "agent.operations", "agent.wiring")),
        (
            ("agent.offline",),
            ("agent.run.graph", "agent.run.nodes", "agent.run.session", "agent.run.executor"),
        ),
        (("agent.operations",), FRONT_ENDS),
    ],
    ids=[
        "governance-no-llm-stack",
        "governance-no-agent",
        "tools-knowledge-no-agent",
        "run-no-frontends",
        "offline-no-run",
        "operations-no-frontends",
    ],
)
def test_imports_point_one_way(sources: tuple[str, ...], forbidden: tuple[str, ...]) -> None:
    assert _offenders(sources, forbidden) == []


def test_no_module_imports_another_that_imports_it_back() -> None:
    """Strongly connected components of the project's import graph are single modules."""
    cycles = [sorted(component) for component in _components() if len(component) > 1]
    assert cycles == []


def _components() -> list[set[str]]:
    """Tarjan's algorithm over the project's modules (imports of outside packages ignored)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in GRAPH[module]:
            # Python imports a module's parent packages first anyway: that edge is no dependency.
            if target not in GRAPH or target == module or module.startswith(target + "."):
                continue
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == module:
                    break
            found.append(component)

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    return found


def test_the_graph_is_read_from_real_sources() -> None:
    """Guards the test itself: it sees the modules and a known import."""
    assert "agent.run.nodes" in GRAPH and "governance.decide" in GRAPH["agent.run.review"]


def test_private_modules_of_a_package_are_imported_only_inside_it() -> None:
    """``governance.approvals._rows`` and the like are the package's own business."""
    offenders = [
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if (private := _private_package(target)) is not None and not _within(module, private)
    ]
    assert offenders == []


def _private_package(module: str) -> str | None:
    """The package owning ``module`` when its last part is private (``a.b._c`` → ``a.b``)."""
    package, _, name = module.rpartition(".")
    return package if name.startswith("_") and not name.startswith("__") and package else None
