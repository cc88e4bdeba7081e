"""No function too tangled to follow (issue 12, "Done when"): radon ranks the cyclomatic complexity of every
function, method, closure and class in the project's Python files (the virtualenv, hidden folders and Django's
generated migrations left out), and none may rank D or worse, i.e. above 20. Split one that grows past it into
named steps.
"""

from __future__ import annotations

import os
from pathlib import Path

from radon.complexity import cc_rank, cc_visit

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 20  # the highest complexity radon still ranks C
SKIPPED_FOLDERS = {"migrations", "node_modules", "__pycache__"}


def python_files() -> list[Path]:
    """The project's ``.py`` files: outside hidden folders (``.venv``, ``.git``, …) and migrations."""
    found = []
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [name for name in subfolders if not name.startswith(".") and name not in SKIPPED_FOLDERS]
        found += [Path(folder, name) for name in files if name.endswith(".py")]
    return sorted(found)


def _blocks(blocks, outer: str = ""):
    """``(qualified name, block)`` of radon's blocks and, within them, their closures (radon ranks those apart)."""
    for block in blocks:
        name = f"{outer}{block.fullname}"
        yield name, block
        yield from _blocks(getattr(block, "closures", []), f"{name}.")


def too_complex(source: str, filename: str) -> list[str]:
    """``"file:line name - rank (complexity)"`` for each block of ``source`` above ``LIMIT``."""
    return [f"{filename}:{block.lineno} {name} - {cc_rank(block.complexity)} ({block.complexity})"
            for name, block in _blocks(cc_visit(source)) if block.complexity > LIMIT]


def test_the_check_names_a_function_above_the_limit_and_passes_one_at_it():
    def function(name: str, branches: int) -> str:  # complexity: 1 + one per ``if``
        return f"def {name}(x):\n" + "".join(f"    if x == {n}:\n        return {n}\n" for n in range(branches))

    nested = "def outer():\n" + "\n".join("    " + line for line in function("inner", LIMIT).splitlines()) + "\n"
    source = function("at_the_limit", LIMIT - 1) + function("above", LIMIT) + nested
    lines = source.splitlines()
    assert too_complex(source, "example.py") == [
        f"example.py:{lines.index('def above(x):') + 1} above - D ({LIMIT + 1})",
        f"example.py:{lines.index('    def inner(x):') + 1} outer.inner - D ({LIMIT + 1})",
    ]


def test_the_walk_covers_the_project_but_not_the_virtualenv_or_migrations():
    found = {path.relative_to(ROOT).as_posix() for path in python_files()}
    assert {"manage.py", "monitoring/streaming/events.py", "bench/auth_check.py", "tests/unit/test_complexity.py"} <= found
    migrations = {path.relative_to(ROOT).as_posix() for path in ROOT.glob("*/migrations/0001_*.py")}
    assert migrations and not migrations & found
    assert not [path for path in found if path.startswith(".") or "/migrations/" in path]


def test_no_function_ranks_d_or_worse():
    found = []
    for path in python_files():
        found += too_complex(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())
    assert found == [], "split these into named steps (radon ranks them D or worse):\n" + "\n".join(found)
