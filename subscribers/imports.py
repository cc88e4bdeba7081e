"""Bulk subscriber import from CSV: ``name,country_code,phone,packages[,expires_at][,login][,player_password]``
(package names split by ``|``; ``expires_at``, optional, ends that line's subscriptions: the API's ``expiresAt``
rules; ``login`` and ``player_password``, optional, are what IPTV players log in with — empty: the full phone
number and a generated password, as ``POST /subscribers`` gives).

The migration use case: thousands of subscribers at once. A dry run reports every line's errors (bad phone or
login, a phone or login twice in the file or already in the portal, unknown package); the real run writes everything in one
transaction with bulk inserts — the same rows and the same operations as single creates — or nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from catena_site.csvfiles import ImportReport as BaseImportReport
from catena_site.csvfiles import read_csv, split_names
from catena_site.errors import Conflict
from catena_site.ids import encode_id, new_id
from catena_site.inputs import flatten
from content.models import Package
from monitoring.operations import OperationType, build, record_many

from .inputs import (
    INSTANT_RULE,
    PlayerPasswordInput,
    SubscriberInput,
    full_number,
    parse_instant,
    period_errors,
)
from .models import Subscriber, Subscription, new_playback_token, new_player_password
from .services import duplicate_login_message, duplicate_phone_message

REQUIRED_COLUMNS = ["name", "country_code", "phone"]
HEADER = "name,country_code,phone,packages,expires_at,login,player_password"
MAX_ROWS = 100_000
COLUMN_NAMES = {"phoneCountryCode": "country_code", "playerPassword": "player_password"}


@dataclass
class RowResult:
    line: int
    name: str
    phone: str
    packages: list[str] = field(default_factory=list)
    expires_at: dt.datetime | None = None
    login: str = ""
    player_password: str = ""  # empty: a generated one
    errors: list[str] = field(default_factory=list)


class ImportReport(BaseImportReport):
    """Each line's RowResult; every line without errors creates a subscriber and their subscriptions."""

    @property
    def created(self) -> int:
        return sum(1 for row in self.rows if not row.errors)

    @property
    def subscriptions(self) -> int:
        return sum(len(row.packages) for row in self.rows if not row.errors)


def import_subscribers(portal, content: bytes | str, *, caller, dry_run: bool = True) -> ImportReport:
    """Validate every line; unless ``dry_run`` or any line fails, create them all in one transaction."""
    caller.require("isSubscriberAdmin")
    rows, file_errors = read_csv(content, required=REQUIRED_COLUMNS, header_hint=HEADER, max_rows=MAX_ROWS)
    report = ImportReport(errors=file_errors)
    if file_errors:
        return report
    packages = {p.name: p for p in Package.objects.for_portal(portal)}
    taken = set(Subscriber.objects.for_portal(portal).values_list("full_phone", flat=True))
    taken_logins = set(Subscriber.objects.for_portal(portal).values_list("login", flat=True))
    seen: dict[str, int] = {}
    seen_logins: dict[str, int] = {}
    check = _row_checker()
    now = timezone.now()
    for index, row in enumerate(rows, start=2):
        country_code, phone = row.get("country_code", ""), row.get("phone", "")
        login, password = row.get("login", ""), row.get("player_password", "")
        result = RowResult(line=index, name=row.get("name", ""), phone=f"+{country_code}{phone}",
                           player_password=password)
        report.rows.append(result)
        data = {"name": result.name, "phoneCountryCode": country_code, "phone": phone}
        if login:
            data["login"] = login
        if password:
            data["playerPassword"] = password
        problems = check(data)
        result.errors += [f"{COLUMN_NAMES.get(k, k)}: {v[0]}" for k, v in problems.items()]
        phone_valid = "phone" not in problems and "phoneCountryCode" not in problems
        number_ok = phone_valid and _check_number(result, full_number(country_code, phone), seen, taken)
        if login:
            result.login = login if "login" not in problems else ""
        elif phone_valid:
            result.login = full_number(country_code, phone)
        # A default login taken with its number is the number's error already: one reason is enough.
        if result.login and (login or number_ok):
            _check_login(result, seen_logins, taken_logins)
        wanted = split_names(row.get("packages", ""))
        unknown = [p for p in wanted if p not in packages]
        if unknown:
            result.errors.append(f"Unknown package: {', '.join(unknown)}.")
        result.packages = wanted
        _check_expiry(result, row.get("expires_at", ""), now)
    if dry_run or not report.ok:
        return report
    _apply(portal, report, rows, packages, caller)
    report.applied = True
    return report


def _row_checker():
    """A function checking one line's values with ``SubscriberInput`` (and ``playerPassword`` with
    ``PlayerPasswordInput``): its errors by API field name, {} when valid.

    One shape instance checks every line (as DRF's ``many=True`` does): a new one per line would build its fields
    anew, ten thousand times for a big file.
    """
    shape, password_shape = SubscriberInput(), PlayerPasswordInput()

    def check(data: dict) -> dict[str, list[str]]:
        problems: dict[str, list[str]] = {}
        password = data.pop("playerPassword", None)
        checks = [(shape, data)] + ([(password_shape, {"playerPassword": password})] if password else [])
        for checking, values in checks:
            try:
                checking.run_validation(values)
            except ValidationError as exc:
                problems.update(flatten(exc.detail))
        return problems

    return check


def _check_number(result: RowResult, number: str, seen: dict[str, int], taken: set[str]) -> bool:
    """A line's number must be new in the file and in the portal (``seen``: number → first line having it).
    Returns whether it is."""
    if number in seen:
        result.errors.append(f"Duplicate of line {seen[number]} (same phone +{number}).")
    elif number in taken:
        result.errors.append(duplicate_phone_message(number))
    else:
        seen[number] = result.line
        return True
    return False


def _check_login(result: RowResult, seen: dict[str, int], taken: set[str]) -> None:
    """A line's login (its own or its number) must be new in the file and in the portal (``seen``: login → first
    line having it), as ``POST /subscribers`` requires."""
    login = result.login
    if login in seen:
        result.errors.append(f"Duplicate of line {seen[login]} (same login {login}).")
    elif login in taken:
        result.errors.append(duplicate_login_message(login))
    else:
        seen[login] = result.line


def _check_expiry(result: RowResult, value: str, now: dt.datetime) -> None:
    """A line's optional ``expires_at``: the rules of the API's ``expiresAt`` (a date or an ISO 8601 date and
    time, at most 10 years ahead); it ends the line's subscriptions, so it needs packages."""
    if not value:
        return
    expires_at = parse_instant(value)
    if expires_at is None:
        result.errors.append(f"expires_at: {INSTANT_RULE}")
        return
    problems = period_errors(None, expires_at, now)
    if problems:
        result.errors += [f"expires_at: {reason}" for reason in problems["expiresAt"]]
    elif not result.packages:
        result.errors.append("expires_at: No packages to end; give the line's packages too.")
    else:
        result.expires_at = expires_at


def _apply(portal, report: ImportReport, rows: list[dict], packages: dict, caller) -> None:
    now = timezone.now()
    actor = caller.actor
    subscribers, subscriptions, operations = [], [], []
    for result, row in zip(report.rows, rows):
        subscriber = Subscriber(
            id=new_id(), portal=portal, name=result.name, phone_country_code=row["country_code"],
            phone=row["phone"], full_phone=row["country_code"] + row["phone"], login=result.login,
            playback_token=new_playback_token(), player_password=result.player_password or new_player_password(),
            created_at=now, updated_at=now,
        )
        subscribers.append(subscriber)
        expiry = result.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ") if result.expires_at else None
        payload = {"name": subscriber.name, "phone": subscriber.international_phone}
        if subscriber.login != subscriber.full_phone:
            payload["login"] = subscriber.login  # as create_subscriber() records it
        operations.append(build(portal, OperationType.CREATE_SUBSCRIBER, actor=actor, subscriber_id=subscriber.id,
                                payload=payload))
        for name in result.packages:
            package = packages[name]
            subscriptions.append(Subscription(subscriber=subscriber, package=package, created_at=now,
                                              expires_at=result.expires_at))
            payload = {"packageId": package.public_id, "subscriberId": encode_id(subscriber.id),
                       "packageName": package.name}
            if expiry:
                payload["expiresAt"] = expiry  # as subscribe() records it
            operations.append(build(portal, OperationType.CREATE_PACKAGE_SUBSCRIBER, actor=actor,
                                    subscriber_id=subscriber.id, package_id=package.id, payload=payload))
    for operation in operations:
        operation.id = new_id()  # ordered like single creates would be
    try:
        with transaction.atomic():
            Subscriber.objects.bulk_create(subscribers, batch_size=2000)
            Subscription.objects.bulk_create(subscriptions, batch_size=5000)
            record_many(operations)
    except IntegrityError:  # a phone or login taken by another change after the checks: nothing was imported
        raise Conflict("A phone number or login of the file was taken by another change while importing; nothing "
                       "was imported. Check the file again.") from None


def format_report(report: ImportReport, *, limit: int = 200) -> str:
    lines = list(report.errors)
    failed = report.failed_rows
    for row in failed[:limit]:
        lines.append(f"line {row.line} ({row.name or '-'}, {row.phone}): " + "; ".join(row.errors))
    if len(failed) > limit:
        lines.append(f"… and {len(failed) - limit} more lines with errors.")
    lines.append(f"{report.created} subscribers and {report.subscriptions} subscriptions"
                 f"{' created' if report.applied else ' to create'}, {len(failed)} lines with errors; {report.verdict}.")
    return "\n".join(lines)
