"""Reading uploaded CSV files for bulk imports, the upload form, the report shape and example downloads."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from django import forms
from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _

from catena_site.text import UNSTORABLE, text_problem

# A CSV file of a bulk import is read whole; this is far above 10 000 channel lines.
MAX_IMPORT_BYTES = 20 * 1024 * 1024


def read_csv(content: bytes | str, *, required: list[str], header_hint: str, max_rows: int) -> tuple[list[dict], list[str]]:
    """Rows as dicts of stripped strings, or file-level errors (size, encoding, header, number of rows).

    The one place of a file's rules, whoever reads it (the import screens, the import commands).
    """
    if len(content) > MAX_IMPORT_BYTES:  # a str's characters count as bytes: never more than its UTF-8
        return [], [too_large_message()]
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            return [], ["The file is not UTF-8 text."]
    bad = UNSTORABLE.search(content)
    if bad is not None:  # csv reads NUL as an ordinary character; PostgreSQL would refuse it at the end
        line = content.count("\n", 0, bad.start()) + 1
        return [], [f"Line {line}: {text_problem(bad.group())}"]
    reader = csv.DictReader(io.StringIO(content))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in required if c not in header]
    if missing:
        return [], [f"Line 1: the header must be {header_hint} (missing: {', '.join(missing)})."]
    reader.fieldnames = header
    rows = []
    for row in reader:
        if len(rows) >= max_rows:
            return [], [f"The file has more than {max_rows} rows; split it."]
        rows.append({k: (v or "").strip() for k, v in row.items() if k})
    return rows, []


def too_large_message() -> str:
    return f"The file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB; split it."


def read_limited(file) -> bytes:
    """A file's bytes (an upload, an open file), at most one byte beyond ``MAX_IMPORT_BYTES`` (enough for ``read_csv`` to refuse
    a larger file without holding it all in memory)."""
    return file.read(MAX_IMPORT_BYTES + 1)


def split_names(value: str) -> list[str]:
    """The names of a ``a|b|c`` cell (such as a line's packages), stripped, blanks and repeats dropped."""
    return list(dict.fromkeys(name.strip() for name in value.split("|") if name.strip()))


@dataclass
class ImportReport:
    """What a bulk import did or would do: one result per line (each with ``errors``), the file's own errors."""

    rows: list = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # problems with the file as a whole
    applied: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors and all(not row.errors for row in self.rows)

    @property
    def failed_rows(self) -> list:
        return [row for row in self.rows if row.errors]

    @property
    def verdict(self) -> str:
        """The last words of the command line's summary."""
        if self.applied:
            return "applied"
        return "dry run: nothing changed" if self.ok else "errors: nothing changed"


class ImportForm(forms.Form):
    """A CSV upload, or the token of a file already checked (so that "Import" needs no second upload)."""

    file = forms.FileField(required=False, label=_("CSV file"),
                           widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv,text/plain"}))
    checked = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean(self):
        # Nothing to read is not a file to check (the file's own rules are ``read_csv``'s).
        data = super().clean()
        if data.get("file") is None and not data.get("checked"):
            self.add_error("file", "Choose a CSV file.")
        return data


def csv_download(content: str, filename: str) -> HttpResponse:
    """``content`` as a CSV file the browser saves as ``filename``."""
    response = HttpResponse(content, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
