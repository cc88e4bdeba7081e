"""Reading uploaded CSV files for bulk imports."""

from __future__ import annotations

import csv
import io


def read_csv(content: bytes | str, *, required: list[str], header_hint: str, max_rows: int) -> tuple[list[dict], list[str]]:
    """Rows as dicts of stripped strings, or file-level errors (encoding, header, size)."""
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            return [], ["The file is not UTF-8 text."]
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
