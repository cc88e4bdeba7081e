"""The shared shape of ``import_channels`` and ``import_subscribers``: FILE --portal ID [--dry-run]."""

from django.core.management.base import BaseCommand, CommandError

from catena_site.csvfiles import read_limited
from catena_site.errors import ServiceError
from monitoring.operations import Actor

from .auth import Caller
from .selectors import portal_by_id_or_name


class ImportCommand(BaseCommand):
    """Reads a CSV file and runs ``import_file(portal, content, caller=…, dry_run=…)``, system as the actor."""

    @staticmethod
    def import_file(portal, content, *, caller, dry_run):
        raise NotImplementedError

    @staticmethod
    def format_report(report) -> str:
        raise NotImplementedError

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
                content = read_limited(handle)
        except OSError as exc:
            raise CommandError(str(exc)) from None
        caller = Caller(portal=portal, acting_as=Actor.system())
        try:
            report = self.import_file(portal, content, caller=caller, dry_run=options["dry_run"])
        except ServiceError as exc:  # e.g. a number taken by another change while importing: nothing imported
            raise CommandError(exc.message) from None
        self.stdout.write(self.format_report(report))
        if not report.ok:
            raise CommandError("The file has errors; nothing was imported.")
