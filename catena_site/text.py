"""The one rule for text that may be stored: no NUL character and no lone surrogate.

PostgreSQL refuses NUL in text (``DataError``) while SQLite keeps it, and a lone surrogate (``"\\ud800"`` is
valid JSON) cannot be encoded for either database. The JSON parser of the APIs and the CSV imports apply it
to every value they read; Django's form ``CharField`` refuses NUL itself, and form data cannot carry a
surrogate (Django decodes it with replacement characters).
"""

from __future__ import annotations

import re

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
NUL_MESSAGE = "Null characters are not allowed."


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None when it can.

    The wording is DRF's own (its ``CharField`` says the same), so every layer refuses with one sentence.
    """
    found = UNSTORABLE.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return NUL_MESSAGE
    return f"Surrogate characters are not allowed: U+{ord(found.group()):X}."
