"""``python manage.py import_subscribers FILE --portal ID [--dry-run]``."""

from django.core.management.base import BaseCommand, CommandError

from monitoring.operations import Actor
from portals.auth import Caller
from portals.selectors import portal_by_id_or_name
from subscribers.imports import format_report, import_subscribers


class Command(BaseCommand):
    help = "Import subscribers from a CSV file (name,country_code,phone,packages); all or nothing."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--portal", required=True, help="portal ID (12 characters) or technical name")
        parser.add_argument("--dry-run", action="store_true", help="only report what would change")

    def handle(self, *args, **options):
        portal = portal_by_id_or_name(options["portal"])
        if portal is None:
            raise CommandError(f"No portal {options['portal']!r}.")
        try:
            with open(options["file"], "rb") as handle:
                content = handle.read()
        except OSError as exc:
            raise CommandError(str(exc)) from None
        caller = Caller(portal=portal, acting_as=Actor.system())
        report = import_subscribers(portal, content, caller=caller, dry_run=options["dry_run"])
        self.stdout.write(format_report(report))
        if not report.ok:
            raise CommandError("The file has errors; nothing was imported.")
