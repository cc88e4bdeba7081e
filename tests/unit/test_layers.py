"""The layers of the architecture, from the bottom up:

``catena_site`` infrastructure ← ``monitoring.operations`` ← ``portals`` ← ``content`` ← ``subscribers`` ← the rest
of ``monitoring`` ← ``catena_site.urls``.

A module may import its own layer and the layers below it, never one above: module-level and function-local
imports alike; only an import under ``if TYPE_CHECKING:`` is exempt. ``catena_site`` is infrastructure (settings,
IDs, API base classes, the Celery app and its beat schedule, which names tasks by string) except its root URLconf,
the top that wires every app's screens and API together.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["catena_site", "monitoring", "portals", "content", "subscribers"]
LAYERS = [
    "catena_site infrastructure",
    "monitoring.operations",
    "portals",
    "content",
    "subscribers",
    "monitoring",
    "catena_site.urls",
]


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def layer_of(module: str) -> int | None:
    """The position of ``module`` in ``LAYERS``, or None for a module outside the project (Django, stdlib…)."""
    if _within(module, "catena_site.urls"):
        return LAYERS.index("catena_site.urls")
    if _within(module, "catena_site"):
        return LAYERS.index("catena_site infrastructure")
    if _within(module, "monitoring.operations"):
        return LAYERS.index("monitoring.operations")
    top = module.split(".")[0]
    return LAYERS.index(top) if top in LAYERS else None


def module_name(path: Path) -> str:
    """The dotted name of the module in ``path`` (a package's ``__init__.py`` names the package)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_modules(source: str, module: str, *, is_package: bool = False) -> list[tuple[int, str]]:
    """``(line, absolute module)`` of every import in ``source``, at any depth; ``from a import b`` counts as
    ``a.b`` and relative imports are resolved against ``module``. Imports under ``if TYPE_CHECKING:`` are
    left out: they never run."""
    tree = ast.parse(source)
    type_checking_only = {
        id(node)
        for branch in ast.walk(tree)
        if isinstance(branch, ast.If) and _is_type_checking(branch.test)
        for statement in branch.body
        for node in ast.walk(statement)
    }
    package = module.split(".") if is_package else module.split(".")[:-1]
    found = []
    for node in ast.walk(tree):
        if id(node) in type_checking_only:
            continue
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                source_module = ".".join(base + ([node.module] if node.module else []))
            else:
                source_module = node.module
            found.extend((node.lineno, ".".join(filter(None, [source_module, alias.name]))) for alias in node.names)
    return found


def upward_imports() -> list[str]:
    """``file:line: module`` for every import of the project that points up the layers."""
    wrong = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            module = module_name(path)
            own = layer_of(module)
            for line, imported in imported_modules(path.read_text(), module, is_package=path.name == "__init__.py"):
                target = layer_of(imported)
                if target is not None and target > own:
                    wrong.append(f"{path.relative_to(ROOT)}:{line}: {imported} "
                                 f"({LAYERS[own]} may not import {LAYERS[target]})")
    return wrong


def test_every_import_points_down_the_layers():
    wrong = upward_imports()
    assert not wrong, (
        "Imports pointing up the layers (" + " ← ".join(LAYERS) + "); let the upper app provide the data "
        "(a template tag, a reverse relation it declares) or move the code down:\n" + "\n".join(wrong)
    )


def test_the_scan_sees_local_and_relative_imports_but_not_type_checking_ones():
    source = (
        "from typing import TYPE_CHECKING\n"
        "from . import services\n"
        "from .models import Package\n"
        "if TYPE_CHECKING:\n"
        "    from monitoring.models import PlaySession\n"
        "def view():\n"
        "    from subscribers.models import Subscription\n"
        "    import monitoring.views\n"
    )
    modules = sorted(name for _, name in imported_modules(source, "content.views"))
    assert modules == ["content.models.Package", "content.services", "monitoring.views",
                       "subscribers.models.Subscription", "typing.TYPE_CHECKING"]
    assert sorted(name for _, name in imported_modules("from .api import views", "content", is_package=True)) == [
        "content.api.views"]


def test_the_layers_are_those_of_the_architecture():
    assert layer_of("catena_site.ids") < layer_of("monitoring.operations") < layer_of("portals.models")
    assert layer_of("portals.models") < layer_of("content.models") < layer_of("subscribers.models")
    assert layer_of("subscribers.models") < layer_of("monitoring.views") < layer_of("catena_site.urls")
    assert layer_of("catena_site.celery") == layer_of("catena_site.settings") == 0
    assert layer_of("django.db") is None
