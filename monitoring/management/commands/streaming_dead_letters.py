"""``python manage.py streaming_dead_letters``: the streaming writes the database refused, set aside (H1)."""

from __future__ import annotations

import datetime as dt
import json

from django.core.management.base import BaseCommand

from monitoring import dead_letters


class Command(BaseCommand):
    help = ("List the dead letters of the streaming buffers (session starts, heartbeats, event batches the database "
            "refused), oldest first, one JSON object a line; --clear forgets them after listing.")

    def add_arguments(self, parser):
        parser.add_argument("--clear", action="store_true", help="forget the listed dead letters")

    def handle(self, *args, **options):
        letters = dead_letters.entries()
        for letter in letters:
            line = {"at": dt.datetime.fromtimestamp(letter["at"], dt.UTC).isoformat(), "buffer": letter["buffer"],
                    "reason": letter["reason"], "item": repr(letter["item"])}
            self.stdout.write(json.dumps(line))
        if options["clear"]:
            dead_letters.clear()
        self.stderr.write(f"{len(letters)} dead letter(s)" + (", cleared" if options["clear"] else ""))
