"""The layers of the architecture: the domain apps (their screens included) import nothing of monitoring but
``monitoring.operations``, the operations log every app writes to."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    """The absolute module names ``path`` imports, ``from a import b`` counted as ``a.b``."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


@pytest.mark.parametrize("app", ["portals", "content", "subscribers"])
def test_a_domain_app_imports_only_the_operations_log_of_monitoring(app):
    wrong = sorted(
        f"{path.relative_to(ROOT)}: {module}"
        for path in (ROOT / app).rglob("*.py")
        for module in imported_modules(path)
        if module.split(".")[0] == "monitoring"
        and module != "monitoring.operations" and not module.startswith("monitoring.operations.")
    )
    assert wrong == []
