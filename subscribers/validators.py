"""Field rules for subscribers, shared by the API, the screens and the CSV import."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"^[0-9]*$")


def phone_errors(country_code, phone) -> dict[str, list[str]]:
    """Errors of a country code and phone pair, by API field name (empty when both are valid)."""
    errors: dict[str, list[str]] = {}
    if not isinstance(country_code, str) or not _DIGITS.match(country_code) or not 1 <= len(country_code) <= 4:
        errors["phoneCountryCode"] = ["Must be 1–4 digits, without '+' or spaces."]
    if not isinstance(phone, str) or not _DIGITS.match(phone) or not 4 <= len(phone) <= 15:
        errors["phone"] = ["Must be 4–15 digits, without '+', spaces or dashes."]
    return errors


def name_errors(name) -> dict[str, list[str]]:
    if not isinstance(name, str) or not name.strip():
        return {"name": ["This field is required."]}
    if len(name.strip()) > 200:
        return {"name": ["Must be at most 200 characters."]}
    return {}
