"""Names that explain themselves (issue 12 item 6).

The model, its table and the API say "program", so code says ``program`` too: no identifier, template variable
or element id spells "programme" (English text for people may; so may the XMLTV format's ``<programme>`` element,
a string). The EPG code lives in the ``content/epg/`` package, not in ``epg_*`` / ``*_epg`` modules scattered over
the apps.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ["catena_site", "content", "monitoring", "portals", "subscribers", "tests", "bench"]
QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")
TEMPLATE_CODE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
ELEMENT_ID = re.compile(r"\b(?:id|href|action|aria-labelledby|hx-select(?:-oob)?|hx-target)=\"([^\"]*)\"")


def python_files():
    for directory in SOURCE_DIRS:
        yield from sorted((ROOT / directory).rglob("*.py"))


def identifiers(tree: ast.AST):
    """``(line, name)`` of every name the code defines or uses."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            yield node.lineno, node.id
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node.lineno, node.name
        elif isinstance(node, ast.arg):
            yield node.lineno, node.arg
        elif isinstance(node, ast.Attribute):
            yield node.lineno, node.attr
        elif isinstance(node, ast.keyword) and node.arg:
            yield node.lineno, node.arg
        elif isinstance(node, ast.alias):
            yield node.lineno, node.asname or node.name


def test_code_spells_program_one_way():
    found = [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for path in python_files()
        for line, name in identifiers(ast.parse(path.read_text(), str(path)))
        if "programme" in name.lower()
    ]
    for path in sorted((ROOT / "templates").rglob("*.html")):
        text = path.read_text()
        for match in TEMPLATE_CODE.finditer(text):
            if "programme" in QUOTED.sub("", match.group()).lower():
                found.append(f"{path.relative_to(ROOT)}: {match.group()[:80]}")
        for match in ELEMENT_ID.finditer(text):
            if "programme" in match.group(1).lower():
                found.append(f"{path.relative_to(ROOT)}: {match.group()}")
    assert found == []


def test_the_epg_code_is_one_package():
    """Every module named after the EPG is the ``content.epg`` package's (or the EPG models' module, a migration)."""
    scattered = [
        str(path.relative_to(ROOT))
        for directory in ["catena_site", "content", "monitoring", "portals", "subscribers"]
        for path in sorted((ROOT / directory).rglob("*.py"))
        if "epg" in path.stem and path.parent.name != "migrations"
        and path.relative_to(ROOT).parts[:2] != ("content", "epg") and path.relative_to(ROOT) != Path("content/models/epg.py")
    ]
    assert scattered == []
    assert (ROOT / "subscribers" / "client_sessions.py").exists() and not (ROOT / "subscribers" / "app_models.py").exists()
