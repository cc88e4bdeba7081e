"""Bulk channel import from CSV: ``name,title,epgSourceName,epgChannelName,packages`` (packages split by ``|``).

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
from .models import Channel, Package, PackageChannel

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


def import_channels(portal, content: bytes | str, *, caller, dry_run: bool = True) -> ImportReport:
    """Validate every line; unless ``dry_run`` or any line fails, apply them all in one transaction."""
    caller.require("isContentAdmin")
    rows, file_errors = read_csv(content, required=["name", "title"], header_hint=HEADER, max_rows=MAX_ROWS)
    report = ImportReport(errors=file_errors)
    if file_errors:
        return report
    existing = {c.name: c for c in Channel.objects.for_portal(portal).select_related("epg_source")}
    packages = {p.name: p for p in Package.objects.for_portal(portal)}
    # Stream names another portal on the same streaming server uses (the real run checks again, under a lock).
    taken = services.stream_names_taken(portal, portal.streaming_server_id,
                                        {row.get("name", "") for row in rows} - set(existing))
    seen: dict[str, int] = {}
    for index, row in enumerate(rows, start=2):
        name = row.get("name", "")
        result = RowResult(line=index, name=name)
        report.rows.append(result)
        if name in seen:
            result.errors.append(f"Duplicate of line {seen[name]}.")
            continue
        seen[name] = index
        data = {"name": name, "title": row.get("title", "")}
        for column in ("epgSourceName", "epgChannelName"):
            if column in row:
                data[column] = row[column]
        try:
            services.clean_channel(portal, data, channel=existing.get(name))
        except Invalid as exc:
            result.errors += [f"{key}: {reason}" for key, reasons in exc.errors.items() for reason in reasons]
        if name in taken:
            result.errors.append(f"name: {services.name_taken_on_server_message(name)}")
        wanted = split_names(row.get("packages", ""))
        unknown = [p for p in wanted if p not in packages]
        if unknown:
            result.errors.append(f"Unknown package: {', '.join(unknown)}.")
        result.packages = wanted
        if not result.errors:
            result.action = "update" if name in existing else "create"
    if dry_run or not report.ok:
        return report
    with transaction.atomic():
        for result, row in zip(report.rows, rows):
            data = {k: row[k] for k in ("name", "title", "epgSourceName", "epgChannelName") if k in row}
            if result.action == "update":
                channel = services.update_channel(existing[result.name], caller=caller, data=data)
            else:
                channel = services.create_channel(portal, caller=caller, data=data)
            linked = set(PackageChannel.objects.filter(channel=channel).values_list("package__name", flat=True))
            for package_name in result.packages:
                if package_name not in linked:
                    services.add_channel_to_package(packages[package_name], channel, caller=caller)
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
