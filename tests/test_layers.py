"""The layers of the site, read from the code's own imports (docs/ARCHITECTURE.md draws them).

Every ``.py`` file of the site's packages is parsed with ``ast`` and every ``import`` statement
counts, wherever it stands: at module level, inside a function (a lazy import hides a circle, it
does not remove it) and under ``if TYPE_CHECKING:`` (a type is a dependency too; a module that
needs another's types to be checked sits above it). What is not an import does not count: dotted
strings that Django resolves at run time (``INSTALLED_APPS``, ``MIDDLEWARE``, ``ROOT_URLCONF``, a
Jinja environment named in ``TEMPLATES``, ``import_string``/``import_module`` arguments) are how a
lower layer names a higher one without depending on it, which is the point of them.

``python tests/test_layers.py`` prints the graph's arrows between top-level packages.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# The engine: a reusable Django app, lifted into other projects as it is.
ENGINE = "valkey_sessions"
# The project package: settings, URLs, middleware, the errors, what every app builds on.
PROJECT = "flightsite"
# The apps: one per domain.
APPS = ("passengers", "flights", "weather")
PACKAGES = (ENGINE, PROJECT, *APPS)


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name of the file holding the statement
    imported: str  # the site module it names (a submodule when ``from pkg import submodule``)
    line: int

    def __str__(self) -> str:
        return f"{self.importer} -> {self.imported} (line {self.line})"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def site_modules() -> dict[str, Path]:
    """Every module of the site's packages (those that exist: the engine may not yet)."""
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if ".venv" not in path.parts:
                modules[module_name(path)] = path
    return modules


def _absolute(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    # A relative import: from the importer's package, up level - 1 more.
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    if node.level > 1:
        base = base[: -(node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> Iterator[Import]:
    """The site modules ``name`` imports, each statement wherever it stands in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _site_module(alias.name, modules)
                if target:
                    yield Import(name, target, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(name, is_package, node)
            for alias in node.names:
                # ``from pkg import submodule`` depends on the submodule; ``from mod import obj``
                # on the module.
                target = _site_module(f"{base}.{alias.name}", modules) if base else None
                target = target or _site_module(base, modules)
                if target:
                    yield Import(name, target, node.lineno)


def _site_module(dotted: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of ``dotted`` that is a site module (``a.b.func`` -> ``a.b``)."""
    parts = dotted.split(".")
    if parts[0] not in PACKAGES:
        return None
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def import_graph() -> list[Import]:
    modules = site_modules()
    found = [imp for name, path in modules.items() for imp in imports_of(name, path, modules)]
    return [imp for imp in found if imp.imported != imp.importer]


def package_of(module: str) -> str:
    return module.split(".")[0]


# What each package never imports (docs/ARCHITECTURE.md, "The layers"): the engine nothing of
# the site, the project no app, flights and weather not each other, passengers (what the others
# build on: the login, what a session holds) neither of them.
NEVER_IMPORTS: dict[str, tuple[str, ...]] = {
    ENGINE: (PROJECT, *APPS),
    PROJECT: APPS,
    "passengers": ("flights", "weather"),
    "flights": ("weather",),
    "weather": ("flights",),
}


def broken_rules(graph: list[Import]) -> list[tuple[str, Import]]:
    """Each import that breaks a layering rule, with the rule it breaks."""
    return [
        (f"{package_of(imp.importer)}/ never imports {package_of(imp.imported)}", imp)
        for imp in graph
        if package_of(imp.imported) in NEVER_IMPORTS.get(package_of(imp.importer), ())
    ]


def cycles(graph: list[Import]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    edges: dict[str, set[str]] = {}
    for imp in graph:
        edges.setdefault(imp.importer, set()).add(imp.imported)
        edges.setdefault(imp.imported, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return sorted(found)


# Known violations, being removed (issue #21). An entry is (importer, imported); the test fails
# on a violation not listed here and on an entry that no longer occurs, so the list only shrinks.
ALLOWED_VIOLATIONS: set[tuple[str, str]] = set()
# Known import cycles, each the sorted modules of one strongly connected component.
ALLOWED_CYCLES: list[list[str]] = []


def test_the_walker_sees_every_kind_of_import(tmp_path: Path) -> None:
    """Module-level, relative, in-function and TYPE_CHECKING imports are all arrows."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "import flights.models\n"
        "from . import forms\n"
        "from .queries import thing\n"
        "if TYPE_CHECKING:\n"
        "    from passengers.session import FLIGHTS\n"
        "def f():\n"
        "    from flightsite import errors\n"
        "SETTING = 'weather.views'\n"
    )
    path = tmp_path / "mod.py"
    path.write_text(source)
    modules = {
        name: Path()
        for name in (
            "flights.models",
            "weather",
            "weather.forms",
            "weather.queries",
            "weather.mod",
            "passengers.session",
            "flightsite",
            "flightsite.errors",
        )
    }
    found = {imp.imported for imp in imports_of("weather.mod", path, modules)}
    assert found == {
        "flights.models",
        "weather.forms",
        "weather.queries",
        "passengers.session",
        "flightsite.errors",
    }


def test_cycles_are_found() -> None:
    graph = [Import("a.x", "a.y", 1), Import("a.y", "a.z", 1), Import("a.z", "a.x", 1)]
    graph.append(Import("a.z", "b.w", 1))
    assert cycles(graph) == [["a.x", "a.y", "a.z"]]


def test_each_rule_is_checked() -> None:
    allowed = [
        Import("flights.views", "passengers.session", 1),  # an app on another (not forbidden)
        Import("flights.views", "flightsite.errors", 1),  # an app on the project
        Import("flightsite.middleware", "valkey_sessions", 1),  # the project on the engine
    ]
    broken = [
        Import("valkey_sessions.store", "passengers.session", 1),
        Import("valkey_sessions.store", "flightsite.outages", 1),
        Import("flightsite.urls", "passengers.views", 1),
        Import("weather.providers.openmeteo", "flights.models", 1),
        Import("flights.catalog", "weather.cities", 1),
        Import("passengers.views", "flights.queries", 1),
        Import("passengers.views", "weather.providers", 1),
    ]
    assert [imp for _, imp in broken_rules(allowed + broken)] == broken


def test_the_graph_is_read_from_the_site() -> None:
    """A sanity check: the walker finds arrows the site is known to have."""
    graph = {(imp.importer, imp.imported) for imp in import_graph()}
    assert ("flights.views", "flightsite.errors") in graph
    assert ("passengers.views", "passengers.session") in graph


def test_no_import_breaks_a_layering_rule() -> None:
    broken = broken_rules(import_graph())
    unexpected = [
        f"{rule}: {imp}"
        for rule, imp in broken
        if (imp.importer, imp.imported) not in ALLOWED_VIOLATIONS
    ]
    assert not unexpected, "\n".join(unexpected)
    still_there = {(imp.importer, imp.imported) for _, imp in broken}
    fixed = sorted(ALLOWED_VIOLATIONS - still_there)
    assert not fixed, f"fixed, remove from ALLOWED_VIOLATIONS: {fixed}"


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    unexpected = [cycle for cycle in found if cycle not in ALLOWED_CYCLES]
    assert not unexpected, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in unexpected)
    fixed = [cycle for cycle in ALLOWED_CYCLES if cycle not in found]
    assert not fixed, f"gone, remove from ALLOWED_CYCLES: {fixed}"


def test_the_architecture_doc_states_these_rules() -> None:
    """docs/ARCHITECTURE.md's table ("never imports") says what NEVER_IMPORTS checks."""
    doc = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    table = doc.split("| folder | may import | never imports |", 1)[1].split("\n\n", 1)[0]
    stated: dict[str, tuple[str, ...]] = {}
    for row in table.splitlines()[2:]:
        folder, _may, never = (cell.strip() for cell in row.strip("|").split("|"))
        package = folder.split("`")[1].strip("/")
        named = tuple(never.split("`")[1::2])
        if named:
            stated[package] = named
    assert {p: set(n) for p, n in stated.items()} == {p: set(n) for p, n in NEVER_IMPORTS.items()}


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_is_walked(package: str) -> None:
    """A package that exists has modules in the graph (a typo in PACKAGES would hide a rule)."""
    if not (ROOT / package).is_dir():
        pytest.skip(f"{package}/ does not exist yet")
    assert any(package_of(name) == package for name in site_modules())


if __name__ == "__main__":
    graph = import_graph()
    for rule, imp in broken_rules(graph):
        print(f"{rule}: {imp}")
    for cycle in cycles(graph):
        print("cycle:", " <-> ".join(cycle))
    sys.exit(0)
