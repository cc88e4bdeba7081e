"""``python manage.py demo_portal [--url URL] [--json]``: the demo portal of a development machine.

Creates the portal ``demo`` (owner ``owner@demo.example.com`` / ``Demo-Pass-2024!``, the Xtream Codes API for
IPTV players on: ``settings.xtreamApi``) unless it exists, and prints where to open Catena and how to sign in — on every run, so ``python3 dev.py run`` shows the
credentials each time it starts. Running it again changes nothing.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from catena_site.errors import ServiceError
from monitoring.operations import Actor
from portals import services
from portals.auth import Caller
from portals.models import Portal

DEMO_NAME = "demo"
DEMO_DOMAIN = "demo.example.com"
DEMO_TITLE = "Demo TV"
DEMO_EMAIL = "owner@demo.example.com"
DEMO_PASSWORD = "Demo-Pass-2024!"  # documented in README.md; a development machine only


def ensure_demo_portal() -> tuple[Portal, bool]:
    """The demo portal, created through the service layer when missing; True when it was just created."""
    portal = Portal.objects.select_related("owner").filter(name=DEMO_NAME).first()
    if portal is not None:
        return portal, False
    try:
        portal = services.create_portal(name=DEMO_NAME, domain=DEMO_DOMAIN, owner_email=DEMO_EMAIL,
                                        owner_password=DEMO_PASSWORD, title=DEMO_TITLE)
        # The README's player walkthrough (Watching with an IPTV player) works on a fresh demo.
        services.update_portal(portal, caller=Caller(portal=portal, acting_as=Actor.system()),
                               data={"settings": {"xtreamApi": True}})
    except ServiceError as exc:  # e.g. another portal already uses the demo domain
        raise CommandError(f"cannot create the demo portal: {exc.message}") from None
    return Portal.objects.select_related("owner").get(pk=portal.pk), True


class Command(BaseCommand):
    help = "Create the demo portal if it does not exist, and print its URL, owner login and API key."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help="where the web server listens")
        parser.add_argument("--json", action="store_true", help="print the details as one JSON object")

    def handle(self, *args, **options):
        with transaction.atomic():
            portal, created = ensure_demo_portal()
        owner = portal.owner
        # Print the documented password only while it still opens the account.
        password = DEMO_PASSWORD if owner is not None and owner.check_password(DEMO_PASSWORD) else None
        url = options["url"].rstrip("/") + "/"
        details = {
            "created": created,
            "url": url,
            "portalId": portal.public_id,
            "portal": portal.name,
            "ownerEmail": owner.email if owner else None,
            "ownerPassword": password,
            "apiKey": portal.api_key,
            "api": f"{url}tv-management/api/v1/",
            "apiDocs": f"{url}api-docs/",
            "players": f"{url}player_api.php?portalId={portal.public_id}",
        }
        if options["json"]:
            self.stdout.write(json.dumps(details))
            return
        lines = [
            f"Demo portal '{portal.name}' {'created' if created else 'ready'}:",
            f"  Open:          {url}",
            f"  Owner email:   {details['ownerEmail'] or '(no owner)'}",
            f"  Password:      {password or '(changed since the demo was created)'}",
            f"  API key:       {portal.api_key}   (header X-Auth-Token)",
            f"  API:           {details['api']}",
            f"  API docs:      {details['apiDocs']}",
            f"  IPTV players:  {details['players']}&username=…&password=…   (Xtream Codes API)",
        ]
        self.stdout.write("\n".join(lines))
