"""JSONSQL writes (``lifecycle.md`` §4): ``insert``, ``update`` and ``delete``.

Every row is changed through the service function the Management API calls for that change — its validation,
its permission check, its operation recorded with the caller's actor, its cache invalidation and session
re-checks — and the whole call is one transaction: a row refused leaves nothing changed.

The rows an ``update`` or ``delete`` changes are those the select compiler's ``where`` finds on the table,
filtered to the caller's portal (also inside sub-selects). ``returning`` answers from the changed rows (read
before a delete) in the shape of a select's ``data``; without it the answer is the number of rows changed.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field

from django.core.exceptions import FieldError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from catena_site.errors import Conflict, Forbidden, Invalid, NotFound, ServiceError
from catena_site.ids import encode_id
from content import services as content
from content.models import Channel, FreePackage, Package, PackageChannel
from portals.auth import Caller
from subscribers import devices, services
from subscribers.device_model import Device
from subscribers.inputs import INSTANT_RULE, parse_instant
from subscribers.models import Subscriber

from . import errors
from .compiler import COMPARISONS, LITERALS, MAX_DEPTH, MAX_ROWS, Compiler, depth, matching_rows, run_select
from .errors import JsonRpcError, invalid
from .limits import sqlite_time_limit, statement_timeout_ms, time_limit, timed_out
from .tables import TABLES, Context, Table

MAX_VALUES = 10_000
CLAUSES = {
    "insert": {"into", "columns", "values", "select", "returning"},
    "update": {"table", "set", "where", "from", "returning"},
    "delete": {"from", "using", "where", "returning"},
}
# Operators an insert … select may carry beside its clauses (IPTVPORTAL compatibility): ANDed into the select.
CONDITION_OPERATORS = set(Compiler.CONDITIONS) | set(COMPARISONS)

Values = dict[str, object]  # one row: JSONSQL column → value


@dataclass(frozen=True)
class Writer:
    """How one table's rows are written: the permission the Management API asks for, the columns an insert and
    an update take, the service calls, and the services' field names (in their errors) as our columns."""

    permission: str
    insertable: frozenset[str]
    updatable: frozenset[str]
    insert: Callable[[Caller, Values], object]
    update: Callable[[Caller, object, Values], None]
    delete: Callable[[Caller, object], None]
    fields: dict[str, str] = field(default_factory=dict)
    related: tuple[str, ...] = ()  # select_related of the rows an update or delete changes
    hints: dict[str, str] = field(default_factory=dict)  # why a column cannot be written


# --- Values ---------------------------------------------------------------------------------------------------


def _refuse(column: str, reason: str) -> Invalid:
    return Invalid.field(column, reason)


def _boolean(values: Values, column: str) -> bool | None:
    if column in values and not isinstance(values[column], bool):
        raise _refuse(column, "Must be true or false.")
    return values.get(column)


def _row_id(values: Values, column: str) -> int:
    value = values.get(column)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _refuse(column, "This field is required." if value is None else "Must be the integer ID of a row.")
    return value


def _instant(values: Values, column: str) -> dt.datetime | None:
    value = values[column]
    if value is None or isinstance(value, dt.datetime):
        return value
    found = parse_instant(value)
    if found is None:
        raise _refuse(column, INSTANT_RULE)
    return found


def _data(values: Values, names: dict[str, str]) -> dict:
    """A service's input from the columns given: ``names`` maps a column to the service's field."""
    return {name: values[column] for column, name in names.items() if column in values}


def _free(package: Package) -> bool:
    return FreePackage.objects.filter(package=package).exists()


# --- subscriber -----------------------------------------------------------------------------------------------

SUBSCRIBER_FIELDS = {"name": "name", "phone_country_code": "phoneCountryCode", "phone": "phone",
                     "max_terminal": "maxDevices", "username": "login"}


def _set_password(caller: Caller, subscriber: Subscriber, values: Values) -> None:
    """``password*`` (write-only): the player password (players.md §2); null generates a new one."""
    if "password" in values:
        services.reset_player_password(subscriber, caller=caller, password=values["password"])


def _insert_subscriber(caller: Caller, values: Values) -> Subscriber:
    disabled = _boolean(values, "disabled")
    subscriber = services.create_subscriber(caller.portal, caller=caller, data=_data(values, SUBSCRIBER_FIELDS))
    _set_password(caller, subscriber, values)
    if disabled:
        services.set_disabled(subscriber, True, caller=caller)
    return subscriber


def _update_subscriber(caller: Caller, subscriber: Subscriber, values: Values) -> None:
    disabled = _boolean(values, "disabled")
    data = _data(values, SUBSCRIBER_FIELDS)
    if data:
        subscriber = services.update_subscriber(subscriber, caller=caller, data=data)
    _set_password(caller, subscriber, values)
    if disabled is not None:
        services.set_disabled(subscriber, disabled, caller=caller)


# --- terminal -------------------------------------------------------------------------------------------------


def _insert_terminal(caller: Caller, values: Values) -> Device:
    subscriber_id = _row_id(values, "subscriber_id")
    data = {key: value for key, value in _data(values, {"mac_addr": "mac", "uid": "uid", "name": "name"}).items()
            if value is not None and value != ""}
    kind = Device.Kind.STB if data.get("mac") else Device.Kind.PLAYER
    return devices.add_device(caller.portal, caller=caller,
                              data={"subscriberId": encode_id(subscriber_id), "kind": kind, **data})


def _update_terminal(caller: Caller, device: Device, values: Values) -> None:
    if "name" in values:
        devices.rename_device(device, caller=caller, data={"name": values["name"]})


# --- subscriber_package ---------------------------------------------------------------------------------------

PERIOD = (("started_on", "starts_at"), ("expired_on", "expires_at"))


def _period(values: Values) -> dict:
    return {name: _instant(values, column) for column, name in PERIOD if column in values}


def _insert_subscription(caller: Caller, values: Values):
    if "enabled" in values and values["enabled"] is not True:
        raise _refuse("enabled", "A subscription is enabled while in its period: insert it with true (or leave "
                                 "enabled out) and end it with expired_on.")
    subscriber_id, package_id = _row_id(values, "subscriber_id"), _row_id(values, "package_id")
    period = _period(values)
    subscriber = Subscriber.objects.for_portal(caller.portal).filter(pk=subscriber_id).first()
    if subscriber is None:
        raise NotFound(f"subscriber_id: no subscriber {subscriber_id} in this portal.")
    package = Package.objects.for_portal(caller.portal).select_related("portal").filter(pk=package_id).first()
    if package is None:
        raise NotFound(f"package_id: no package {package_id} in this portal.")
    return services.subscribe(subscriber, package, caller=caller, **period)


def _update_subscription(caller: Caller, subscription, values: Values) -> None:
    period = _period(values)
    if period:
        services.update_subscription_period(subscription.subscriber, subscription.package, period, caller=caller)


def _delete_subscription(caller: Caller, subscription) -> None:
    services.unsubscribe(subscription.subscriber, subscription.package, caller=caller)


# --- package and package_media --------------------------------------------------------------------------------

PACKAGE_FIELDS = {"name": "name", "description": "description"}


def _insert_package(caller: Caller, values: Values) -> Package:
    paid = _boolean(values, "paid")
    package = content.create_package(caller.portal, caller=caller, data=_data(values, PACKAGE_FIELDS))
    if paid is False:
        content.add_free_package(package, caller=caller)
    return package


def _update_package(caller: Caller, package: Package, values: Values) -> None:
    paid = _boolean(values, "paid")
    data = _data(values, PACKAGE_FIELDS)
    if data:
        package = content.update_package(package, caller=caller, data=data)
    if paid is not None and paid == _free(package):
        (content.remove_free_package if paid else content.add_free_package)(package, caller=caller)


def _insert_package_media(caller: Caller, values: Values) -> PackageChannel:
    package_id, media_id = _row_id(values, "package_id"), _row_id(values, "media_id")
    package = Package.objects.for_portal(caller.portal).select_related("portal").filter(pk=package_id).first()
    if package is None:
        raise NotFound(f"package_id: no package {package_id} in this portal.")
    channel = Channel.objects.for_portal(caller.portal).filter(pk=media_id).first()
    if channel is None:
        raise NotFound(f"media_id: no media {media_id} in this portal.")
    content.add_channel_to_package(package, channel, caller=caller)
    return PackageChannel.objects.get(package=package, channel=channel)


def _update_nothing(caller: Caller, row, values: Values) -> None:  # pragma: no cover - no column is updatable
    raise AssertionError("package_media has no updatable column")


# --- media and category ---------------------------------------------------------------------------------------

MEDIA_FIELDS = {"name": "name", "title": "title", "number": "number", "is_radio": "audioOnly",
                "description": "description"}


def _media_data(values: Values) -> dict:
    data = _data(values, MEDIA_FIELDS)
    if "is_tv" in values:
        is_tv = _boolean(values, "is_tv")
        if "audioOnly" in data and data["audioOnly"] == is_tv:
            raise _refuse("is_tv", "Must be the opposite of is_radio.")
        data["audioOnly"] = not is_tv
    return data


CATEGORY_FIELDS = {"name": "name", "title": "title"}

ID_HINT = "IDs are assigned by Catena"
WRITERS: dict[str, Writer] = {
    "subscriber": Writer(
        "isSubscriberAdmin",
        insertable=frozenset({"name", "phone_country_code", "phone", "disabled", "max_terminal", "username",
                              "password"}),
        updatable=frozenset({"name", "phone_country_code", "phone", "disabled", "max_terminal", "username",
                             "password"}),
        insert=_insert_subscriber, update=_update_subscriber,
        delete=lambda caller, row: services.delete_subscriber(row, caller=caller),
        fields={**{api: column for column, api in SUBSCRIBER_FIELDS.items()}, "playerPassword": "password"},
        related=("portal",),
        hints={"id": ID_HINT}),
    "terminal": Writer(
        "isSubscriberAdmin",
        insertable=frozenset({"subscriber_id", "mac_addr", "uid", "name"}),
        updatable=frozenset({"name"}),
        insert=_insert_terminal, update=_update_terminal,
        delete=lambda caller, row: devices.remove_device(row, caller=caller),
        fields={"subscriberId": "subscriber_id", "mac": "mac_addr", "kind": "mac_addr", "uid": "uid", "name": "name"},
        hints={"id": ID_HINT, "registered": "Catena records when a device is first seen",
               "last_seen": "Catena records when a device is last seen",
               "subscriber_id": "a device stays with its subscriber: delete it and insert another",
               "mac_addr": "delete the device and insert another", "uid": "delete the device and insert another"}),
    "subscriber_package": Writer(
        "isSubscriberAdmin",
        insertable=frozenset({"subscriber_id", "package_id", "enabled", "started_on", "expired_on"}),
        updatable=frozenset({"started_on", "expired_on"}),
        insert=_insert_subscription, update=_update_subscription, delete=_delete_subscription,
        fields={"startsAt": "started_on", "expiresAt": "expired_on", "subscriberId": "subscriber_id",
                "packageId": "package_id"},
        related=("subscriber", "package__portal"),
        hints={"id": ID_HINT, "enabled": "it is computed from started_on and expired_on: set those",
               "subscriber_id": "delete the subscription and insert another",
               "package_id": "delete the subscription and insert another"}),
    "package": Writer(
        "isContentAdmin",
        insertable=frozenset({"name", "description", "paid"}),
        updatable=frozenset({"name", "description", "paid"}),
        insert=_insert_package, update=_update_package,
        delete=lambda caller, row: content.delete_package(row, caller=caller),
        fields={"name": "name", "description": "description"}, related=("portal",), hints={"id": ID_HINT}),
    "package_media": Writer(
        "isContentAdmin",
        insertable=frozenset({"package_id", "media_id"}),
        updatable=frozenset(),
        insert=_insert_package_media, update=_update_nothing,
        delete=lambda caller, row: content.remove_channel_from_package(row.package, row.channel, caller=caller),
        fields={"packageId": "package_id", "channelId": "media_id"}, related=("package__portal", "channel"),
        hints={"package_id": "delete the row and insert another", "media_id": "delete the row and insert another"}),
    "media": Writer(
        "isContentAdmin",
        insertable=frozenset({"name", "title", "number", "is_tv", "is_radio", "description"}),
        updatable=frozenset({"title", "number", "is_tv", "is_radio", "description"}),
        insert=lambda caller, values: content.create_channel(caller.portal, caller=caller, data=_media_data(values)),
        update=lambda caller, row, values: content.update_channel(row, caller=caller, data=_media_data(values)),
        delete=lambda caller, row: content.delete_channel(row, caller=caller),
        fields={api: column for column, api in MEDIA_FIELDS.items()}, related=("portal",),
        hints={"id": ID_HINT, "name": "a channel's stream name never changes",
               **{column: "it comes from the portal's stream base URL" for column in ("protocol", "inet_addr", "port")}}),
    "category": Writer(
        "isContentAdmin",
        insertable=frozenset({"name", "title"}),
        updatable=frozenset({"title"}),
        insert=lambda caller, values: content.create_category(caller.portal, caller=caller,
                                                              data=_data(values, CATEGORY_FIELDS)),
        update=lambda caller, row, values: content.update_category(row, caller=caller,
                                                                   data=_data(values, CATEGORY_FIELDS)),
        delete=lambda caller, row: content.delete_category(row, caller=caller),
        fields={"name": "name", "title": "title"}, related=("portal",),
        hints={"id": ID_HINT, "name": "a category's name never changes"}),
}


# --- Clauses --------------------------------------------------------------------------------------------------


def _clauses(method: str, params) -> None:
    unknown = sorted(set(params) - CLAUSES[method] - (CONDITION_OPERATORS if method == "insert" else set()))
    if unknown:
        raise invalid(f"Unknown clause: {unknown[0]}.")


def _table(params: dict, clause: str) -> tuple[Table, Writer]:
    name = params.get(clause)
    if not isinstance(name, str) or name not in TABLES:
        raise invalid(f"{clause}: unknown table: {name if isinstance(name, str) else json.dumps(name)}.")
    return TABLES[name], WRITERS[name]


def _writable(method: str, table: Table, writer: Writer, columns, clause: str) -> None:
    """Every name in ``columns`` is a column of ``table`` that ``method`` may write."""
    allowed = writer.insertable if method == "insert" else writer.updatable
    for name in columns:
        if not isinstance(name, str):
            raise invalid(f"{clause}: a column name must be a string, not {json.dumps(name)}.")
        if name not in table.columns:
            raise invalid(f"{clause}: unknown column: {name} (table {table.name}).")
    for name in columns:
        if name not in allowed:
            hint = writer.hints.get(name)
            raise invalid(f"{clause}: {method} cannot write {table.name}.{name}" + (f" ({hint})." if hint else "."))


def _literal(value, clause: str) -> object:
    if not isinstance(value, LITERALS) and not isinstance(value, dt.datetime):
        raise invalid(f"{clause}: plain values only (text, numbers, true, false, null), not {json.dumps(value)[:80]}.")
    return value


def _returning(table: Table, params: dict) -> tuple[list[str] | None, bool]:
    clause = params.get("returning")
    if clause is None:
        return None, False
    names = [clause] if isinstance(clause, str) else clause
    if not isinstance(names, list) or not names:
        raise invalid("returning: a column name or a list of column names.")
    for name in names:
        if not isinstance(name, str):
            raise invalid(f"returning: a column name must be a string, not {json.dumps(name)}.")
        if name not in table.columns:
            raise invalid(f"returning: unknown column: {name} (table {table.name}).")
    return names, isinstance(clause, str)


def _answer(table: Table, pks: list, returning: tuple[list[str] | None, bool], context: Context):
    """The number of rows changed, or the ``returning`` columns of each (in the order they were changed)."""
    names, flat = returning
    if names is None:
        return len(pks)
    found = {}
    for start in range(0, len(pks), 500):
        rows = (table.model.objects.filter(pk__in=pks[start:start + 500])
                .annotate(**{f"jsonsql_{i}": table.columns[name]("", context) for i, name in enumerate(names)})
                .values_list("pk", *[f"jsonsql_{i}" for i in range(len(names))]))
        found.update({row[0]: row[1:] for row in rows})
    return [found[pk][0] if flat else list(found[pk]) for pk in pks]


def _apply(label: str, writer: Writer, change: Callable[[], object]):
    """``change()``, its service's refusal an application error naming the row and our column."""
    try:
        return change()
    except ServiceError as exc:
        raise _refusal(exc, writer, label) from None


def _refusal(exc: ServiceError, writer: Writer | None = None, label: str = "") -> JsonRpcError:
    if isinstance(exc, Forbidden):
        return JsonRpcError(errors.NOT_PERMITTED, f"{exc.message} Nothing was changed.")
    code = errors.CONFLICT if isinstance(exc, Conflict) else (
        errors.NOT_FOUND if isinstance(exc, NotFound) else errors.INVALID_VALUE)
    fields = writer.fields if writer is not None else {}
    if exc.errors:
        reason = "; ".join(f"{fields.get(name, name)}: {reasons[0].rstrip('.')}"
                           for name, reasons in exc.errors.items()) + "."
    else:
        reason = exc.message
    for name, column in fields.items():
        if name != name.lower():  # the services' camelCase names in a reason ("Must be after startsAt.")
            reason = re.sub(rf"\b{name}\b", column, reason)
    return JsonRpcError(code, f"{label + ': ' if label else ''}{reason} Nothing was changed.")


def _matched(table: Table, writer: Writer, params: dict, context: Context) -> list:
    """The portal's rows of ``table`` that ``where`` selects, oldest first, at most ``MAX_ROWS``."""
    if params.get("where") is None:
        raise invalid("where: name the rows to change (a condition every row meets changes them all).")
    queryset = matching_rows(table.name, params["where"], context).select_related(*writer.related).order_by("pk")
    with sqlite_time_limit():
        rows = list(queryset[:MAX_ROWS + 1])
    if len(rows) > MAX_ROWS:
        raise JsonRpcError(errors.TOO_MANY_ROWS, f"The where matches more than {MAX_ROWS} rows: change them in "
                                                 "several calls.")
    return rows


def _label(table: Table, row) -> str:
    if table.name == "package_media":
        return f"package_media (package_id {row.package_id}, media_id {row.channel_id})"
    return f"{table.name} {row.pk}"


# --- The three writes -----------------------------------------------------------------------------------------


def _selected_rows(params: dict, context: Context) -> list:
    """The rows of an insert's ``select``, with the operators beside the insert's clauses ANDed into its where."""
    select = params["select"]
    if not isinstance(select, dict):
        raise invalid("select: an object of select clauses.")
    extra = [{key: value} for key, value in params.items() if key in CONDITION_OPERATORS]
    if extra:
        where = select.get("where")
        if isinstance(where, dict) and list(where) == ["and"] and isinstance(where["and"], list):
            conjuncts = list(where["and"])
        else:
            conjuncts = [] if where is None else [where]
        # Flat, so that the join links the compiler looks for stay in the top-level and.
        select = {**select, "where": {"and": conjuncts + extra}}
    with sqlite_time_limit():
        rows = run_select(select, context)
    return [row if isinstance(row, list) else [row] for row in rows]


def insert(caller: Caller, params: dict, context: Context):
    """``insert``: each row of ``values`` (or of ``select``) created through the table's service."""
    _clauses("insert", params)
    table, writer = _table(params, "into")
    columns = params.get("columns")
    if not isinstance(columns, list) or not columns:
        raise invalid("columns: a list of the columns the values fill.")
    _writable("insert", table, writer, columns, "columns")
    if len(set(columns)) != len(columns):
        raise invalid("columns: a column is named twice.")
    returning = _returning(table, params)
    if ("values" in params) == ("select" in params):
        raise invalid("insert: give values or a select (one of them).")
    if "values" in params:
        if any(key in CONDITION_OPERATORS for key in params):
            raise invalid("insert: conditions beside the clauses belong to an insert … select.")
        rows = params["values"]
        if not isinstance(rows, list) or not rows:
            raise invalid("values: a list of rows, each a list of values in the order of columns.")
        if len(rows) > MAX_VALUES:
            raise invalid(f"values: at most {MAX_VALUES} rows per insert, got {len(rows)}.")
    caller.require(writer.permission)
    if "select" in params:
        rows = _selected_rows(params, context)
    pks = []
    for number, row in enumerate(rows, 1):
        if not isinstance(row, list) or len(row) != len(columns):
            raise invalid(f"values: row {number} must be a list of {len(columns)} value(s), one per column.")
        values = {column: _literal(value, f"values: row {number}") for column, value in zip(columns, row)}
        pks.append(_apply(f"row {number}", writer, lambda values=values: writer.insert(caller, values)).pk)
    return _answer(table, pks, returning, context)


def update(caller: Caller, params: dict, context: Context):
    """``update``: each row ``where`` selects changed through the table's service."""
    _clauses("update", params)
    table, writer = _table(params, "table")
    if params.get("from") is not None:
        raise invalid('from: update … from (a join) is not supported: name the rows with a sub-select in where, '
                      'e.g. {"in": ["subscriber_id", {"select": {…}}]}.')
    changes = params.get("set")
    if not isinstance(changes, dict) or not changes:
        raise invalid("set: an object of column: value.")
    _writable("update", table, writer, list(changes), "set")
    values = {column: _literal(value, f"set: {column}") for column, value in changes.items()}
    returning = _returning(table, params)
    caller.require(writer.permission)
    rows = _matched(table, writer, params, context)
    for row in rows:
        _apply(_label(table, row), writer, lambda row=row: writer.update(caller, row, dict(values)))
    return _answer(table, [row.pk for row in rows], returning, context)


def delete(caller: Caller, params: dict, context: Context):
    """``delete``: each row ``where`` selects removed through the table's service (``returning`` read first)."""
    _clauses("delete", params)
    table, writer = _table(params, "from")
    if params.get("using") is not None:
        raise invalid('using: delete … using (a join) is not supported: name the rows with a sub-select in where, '
                      'e.g. {"in": ["subscriber_id", {"select": {…}}]}.')
    returning = _returning(table, params)
    caller.require(writer.permission)
    rows = _matched(table, writer, params, context)
    answer = _answer(table, [row.pk for row in rows], returning, context)
    for row in rows:
        _apply(_label(table, row), writer, lambda row=row: writer.delete(caller, row))
    return answer


METHODS = {"insert": insert, "update": update, "delete": delete}


def run(method: str, caller: Caller, params) -> object:
    """Run one write on the caller's portal in one transaction, each statement within the time limit (on SQLite:
    the queries that find its rows, :func:`limits.sqlite_time_limit`)."""
    if not isinstance(params, dict):
        raise invalid(f"params: {method} takes an object of clauses.")
    if depth(params) > MAX_DEPTH:
        raise invalid(f"params: expressions nest at most {MAX_DEPTH} levels deep.")
    context = Context.of(caller.portal, timezone.now())
    timeout = statement_timeout_ms()
    try:
        with transaction.atomic(), (time_limit(timeout) if connection.vendor == "postgresql" else nullcontext()):
            return METHODS[method](caller, params, context)
    except ServiceError as exc:  # the permission check before any row
        raise _refusal(exc) from None
    except FieldError as exc:
        raise invalid(f"The expression cannot be computed: {exc}") from None
    except (DatabaseError, OverflowError) as exc:  # OverflowError: SQLite's answer to an integer over 64 bits
        if timed_out(exc):
            raise JsonRpcError(errors.QUERY_FAILED, f"The {method} took longer than {timeout / 1000:g} s in one "
                                                    "statement: narrow its where or change fewer rows per call. "
                                                    "Nothing was changed.") from None
        raise JsonRpcError(errors.QUERY_FAILED, f"The database could not run this {method} (a value of the wrong "
                                                "type…). Nothing was changed.") from None
