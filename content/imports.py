"""Bulk channel import from CSV: ``name,title,epgSourceName,epgChannelName,packages`` (packages split by ``|``),
and optionally ``number,categories,description,language`` (category names split by ``|``).

A dry run reports what each line would do and every line's errors; the real run applies all lines in one
transaction through the same service functions as the API, or nothing at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction

from catena_site.csvfiles import ImportReport as BaseImportReport
from catena_site.csvfiles import read_csv, split_names
from catena_site.errors import Invalid

from . import services
from .inputs import ChannelInput
from .models import Category, Channel, Package, PackageChannel

MAX_ROWS = 10_000
HEADER = "name,title,epgSourceName,epgChannelName,packages"


@dataclass
class RowResult:
    line: int
    name: str
    action: str = ""  # "create" or "update"; empty when the line has errors
    packages: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class ImportReport(BaseImportReport):
    """Each line's RowResult; a line without errors creates or updates its channel."""

    @property
    def created(self) -> int:
        return sum(1 for row in self.rows if row.action == "create")

    @property
    def updated(self) -> int:
        return sum(1 for row in self.rows if row.action == "update")


COLUMNS = ("name", "title", "epgSourceName", "epgChannelName", "description", "language")


@dataclass
class Portfolio:
    """What the rows are checked against: the portal's channels and packages, and the stream names other
    portals on the same streaming server use (the real run checks those again, under a lock)."""

    portal: object
    channels: dict[str, Channel]
    packages: dict[str, Package]
    taken: set[str]
    categories: dict[str, Category] = field(default_factory=dict)
    numbers: dict[int, str] = field(default_factory=dict)  # channel number → the name of the line or channel holding it

    @classmethod
    def of(cls, portal, rows: list[dict]) -> Portfolio:
        channels = {c.name: c for c in Channel.objects.for_portal(portal).defer("logo")}
        taken = services.stream_names_taken(portal, portal.streaming_server_id,
                                            {row.get("name", "") for row in rows} - set(channels))
        return cls(portal, channels, {p.name: p for p in Package.objects.for_portal(portal)}, taken,
                   {c.name: c for c in Category.objects.for_portal(portal)},
                   {c.number: c.name for c in channels.values() if c.number is not None})


def cell_number(text: str):
    """A ``number`` cell: empty is no number, digits a whole number, anything else is left for the shape to
    refuse with its own words."""
    text = text.strip()
    if not text:
        return None
    return int(text) if text.isdigit() and len(text) <= 6 else text


def row_data(row: dict, known: Portfolio | None = None) -> dict:
    """A row's channel fields under the API's names (a column left out of the file is left unchanged)."""
    data = {column: row[column] for column in COLUMNS if column in row}
    if "number" in row:
        data["number"] = cell_number(row["number"])
    if "categories" in row and known is not None:
        data["categories"] = [known.categories[name].public_id for name in split_names(row["categories"])
                              if name in known.categories]
    return data


def check_catalog_cells(result: RowResult, row: dict, known: Portfolio) -> None:
    """The optional catalog cells the shape cannot judge alone: category names, and a number another channel
    (or an earlier line) holds."""
    unknown = [name for name in split_names(row.get("categories", "")) if name not in known.categories]
    if unknown:
        result.errors.append(f"Unknown category: {', '.join(unknown)}.")
    number = cell_number(row.get("number", ""))
    if isinstance(number, int):
        holder = known.numbers.get(number)
        if holder is not None and holder != result.name:
            result.errors.append(f"number: number is taken by {holder}")
        else:
            known.numbers[number] = result.name


def check_row(result: RowResult, row: dict, known: Portfolio) -> None:
    """Add the row's errors to ``result`` (the channel's, by the same shape as the API; its packages'), then
    what it would do."""
    existing = known.channels.get(result.name)
    try:
        ChannelInput.check(row_data(row, known), partial=existing is not None, portal=known.portal,
                           channel=existing)
    except Invalid as exc:
        result.errors += [f"{key}: {reason}" for key, reasons in exc.errors.items() for reason in reasons]
    check_catalog_cells(result, row, known)
    if result.name in known.taken:
        result.errors.append(f"name: {services.name_taken_on_server_message(result.name)}")
    result.packages = split_names(row.get("packages", ""))
    unknown = [name for name in result.packages if name not in known.packages]
    if unknown:
        result.errors.append(f"Unknown package: {', '.join(unknown)}.")
    if not result.errors:
        result.action = "update" if existing is not None else "create"


def check_rows(rows: list[dict], known: Portfolio) -> list[RowResult]:
    """Each row's RowResult, numbered by its line in the file (the header is line 1)."""
    results, seen = [], {}
    for line, row in enumerate(rows, start=2):
        result = RowResult(line=line, name=row.get("name", ""))
        results.append(result)
        if result.name in seen:
            result.errors.append(f"Duplicate of line {seen[result.name]}.")
            continue
        seen[result.name] = line
        check_row(result, row, known)
    return results


def apply_rows(results: list[RowResult], rows: list[dict], known: Portfolio, *, caller) -> None:
    """Create or update every row's channel and add it to its packages, in one transaction."""
    with transaction.atomic():
        for result, row in zip(results, rows):
            if result.action == "update":
                channel = services.update_channel(known.channels[result.name], caller=caller,
                                                  data=row_data(row, known))
            else:
                channel = services.create_channel(known.portal, caller=caller, data=row_data(row, known))
            linked = set(PackageChannel.objects.filter(channel=channel).values_list("package__name", flat=True))
            for package_name in result.packages:
                if package_name not in linked:
                    services.add_channel_to_package(known.packages[package_name], channel, caller=caller)


def import_channels(portal, content: bytes | str, *, caller, dry_run: bool = True) -> ImportReport:
    """Validate every line; unless ``dry_run`` or any line fails, apply them all in one transaction."""
    caller.require("isContentAdmin")
    rows, file_errors = read_csv(content, required=["name", "title"], header_hint=HEADER, max_rows=MAX_ROWS)
    report = ImportReport(errors=file_errors)
    if file_errors:
        return report
    known = Portfolio.of(portal, rows)
    report.rows = check_rows(rows, known)
    if dry_run or not report.ok:
        return report
    apply_rows(report.rows, rows, known, caller=caller)
    report.applied = True
    return report


def format_report(report: ImportReport) -> str:
    """A plain-text summary for the command line."""
    lines = list(report.errors)
    for row in report.rows:
        if row.errors:
            lines.append(f"line {row.line} ({row.name or '-'}): " + "; ".join(row.errors))
        else:
            extra = f" + packages {', '.join(row.packages)}" if row.packages else ""
            lines.append(f"line {row.line} ({row.name}): {row.action}{extra}")
    lines.append(f"{report.created} to create, {report.updated} to update, {len(report.failed_rows)} with errors; "
                 f"{report.verdict}.")
    return "\n".join(lines)
