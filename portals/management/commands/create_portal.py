"""``python manage.py create_portal --name N --domain D --owner-email E --owner-password P [--title T]
[--streaming-server S] --json``."""

import json

from django.core.management.base import BaseCommand, CommandError

from catena_site.errors import ServiceError
from portals import services
from portals.models import StreamingServer


class Command(BaseCommand):
    help = "Create a portal with its owner and print its ID, API key and owner ID."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="technical name (letters, digits, - and _)")
        parser.add_argument("--domain", required=True)
        parser.add_argument("--owner-email", required=True)
        parser.add_argument("--owner-password", required=True)
        parser.add_argument("--title", default="")
        parser.add_argument("--streaming-server", default="",
                            help="name of the streaming server serving the portal (default: the server 'default')")
        parser.add_argument("--json", action="store_true", help="print {portalId, apiKey, ownerId} as JSON")

    def handle(self, *args, **options):
        server = None
        if options["streaming_server"]:
            server = StreamingServer.objects.filter(name=options["streaming_server"]).first()
            if server is None:
                raise CommandError(f"No streaming server named '{options['streaming_server']}'.")
        try:
            portal = services.create_portal(
                name=options["name"],
                domain=options["domain"],
                owner_email=options["owner_email"],
                owner_password=options["owner_password"],
                title=options["title"],
                streaming_server=server,
            )
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        result = {"portalId": portal.public_id, "apiKey": portal.api_key, "ownerId": portal.owner.public_id}
        if options["json"]:
            self.stdout.write(json.dumps(result))
        else:
            self.stdout.write(f"Portal {portal.name} created: {result}")
