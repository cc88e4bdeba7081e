"""``python manage.py import_subscribers FILE --portal ID [--dry-run]``."""

from portals.import_command import ImportCommand
from subscribers.imports import format_report, import_subscribers


class Command(ImportCommand):
    help = "Import subscribers from a CSV file (name,country_code,phone,packages); all or nothing."
    import_file = staticmethod(import_subscribers)
    format_report = staticmethod(format_report)
