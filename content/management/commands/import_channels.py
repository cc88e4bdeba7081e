"""``python manage.py import_channels FILE --portal ID [--dry-run]``."""

from content.imports import format_report, import_channels
from portals.import_command import ImportCommand


class Command(ImportCommand):
    help = "Import channels from a CSV file (name,title,epgSourceName,epgChannelName,packages); all or nothing."
    import_file = staticmethod(import_channels)
    format_report = staticmethod(format_report)
