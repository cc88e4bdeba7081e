"""The Russian translation is complete and its compiled catalog is the one in git (README "Languages and time
zone").

Both checks need GNU gettext (xgettext, msgmerge, msgattrib, msgfmt), as Django's makemessages does: they are
skipped where it is missing, except on CI (``CI=true``), where a missing gettext fails.
"""

from __future__ import annotations

import gettext
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "locale" / "ru" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
# What makemessages reads: the apps, the templates and the settings that name the locale folder.
SOURCES = ("catena_site", "portals", "content", "subscribers", "monitoring", "templates", "locale", "manage.py")
FIX = ("Fix: python manage.py makemessages -l ru --no-obsolete --add-location=file --ignore=.venv --ignore=tests "
       "--ignore=bench --ignore=deploy --ignore=var, write the Russian msgstr of each message listed (and remove "
       "its '#, fuzzy' line), then python manage.py compilemessages --ignore=.venv and commit django.po and "
       "django.mo.")


def require_gettext(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if not missing:
        return
    message = f"GNU gettext is not installed ({', '.join(missing)} not found)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (required on CI)")
    pytest.skip(message)


def message_ids(po_text: str) -> list[str]:
    """The msgids of a .po text (``msgattrib`` output), without the header's empty one."""
    ids = []
    for match in re.finditer(r'^msgid ((?:".*"\n)+)', po_text, re.M):
        text = "".join(re.findall(r'^"(.*)"$', match.group(1), re.M))
        if text:
            ids.append(text)
    return ids


def test_every_message_of_the_code_has_a_russian_translation(tmp_path):
    require_gettext("xgettext", "msgmerge", "msguniq", "msgattrib")
    copy = tmp_path / "catena"
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            copy.mkdir(exist_ok=True)
            shutil.copy2(source, copy / name)
    # The copy's settings (BASE_DIR, LOCALE_PATHS) point into the copy: the messages of the code as it is now,
    # merged into a copy of the committed translation; the repository is not touched.
    env = {**os.environ, "PYTHONPATH": str(copy), "CATENA_VAR_DIR": str(tmp_path / "var"),
           "DJANGO_SETTINGS_MODULE": "catena_site.settings"}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    subprocess.run([sys.executable, "manage.py", "makemessages", "-l", "ru", "--no-obsolete", "--add-location=file"],
                   cwd=copy, env=env, check=True, capture_output=True, text=True)
    merged = copy / "locale" / "ru" / "LC_MESSAGES" / "django.po"
    assert len(message_ids(merged.read_text())) > 700  # the extraction did find the screens' messages

    def listed(*flags: str) -> list[str]:
        result = subprocess.run(["msgattrib", "--no-obsolete", *flags, str(merged)], capture_output=True, text=True,
                                check=True)
        return message_ids(result.stdout)

    untranslated = listed("--untranslated")
    fuzzy = listed("--only-fuzzy")
    assert not untranslated and not fuzzy, (
        f"{len(untranslated)} message(s) of the code have no Russian translation and {len(fuzzy)} only a fuzzy "
        f"one in locale/ru/LC_MESSAGES/django.po: {(untranslated + fuzzy)[:20]}. {FIX}")


def test_the_committed_compiled_catalog_is_the_po_file_compiled(tmp_path):
    require_gettext("msgfmt")
    fresh = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "--check-format", "-o", str(fresh), str(PO)], check=True, capture_output=True)
    with MO.open("rb") as committed, fresh.open("rb") as compiled:
        assert gettext.GNUTranslations(committed)._catalog == gettext.GNUTranslations(compiled)._catalog, (
            "locale/ru/LC_MESSAGES/django.mo is older than django.po: run python manage.py compilemessages "
            "--ignore=.venv and commit django.mo.")


def test_a_catalog_without_translations_would_be_caught(tmp_path):
    """The check above reads what it should: an empty msgstr in a copy of the file is listed as untranslated."""
    require_gettext("msgattrib")
    text = PO.read_text()
    broken = tmp_path / "django.po"
    broken.write_text(re.sub(r'^msgstr "Журнал операций"$', 'msgstr ""', text, count=1, flags=re.M))
    result = subprocess.run(["msgattrib", "--untranslated", str(broken)], capture_output=True, text=True, check=True)
    assert message_ids(result.stdout) == ["Operations log"]
