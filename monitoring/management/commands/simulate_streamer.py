"""``python manage.py simulate_streamer``: play simulated viewers against the streaming endpoints."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from monitoring.streaming.simulator import ClientTransport, HttpTransport, StreamerSimulator
from portals import streaming_servers
from portals.models import Portal
from subscribers.access import watchable_channels
from subscribers.models import Subscriber


class Command(BaseCommand):
    help = ("Simulate a Flussonic server: N viewers of a portal open sessions, re-authorize, switch channels and "
            "stop, while session events are posted in batches with duplicates and late arrivals.")

    def add_arguments(self, parser):
        parser.add_argument("--portal", required=True, help="technical name of the portal whose subscribers play")
        parser.add_argument("--viewers", type=int, default=20)
        parser.add_argument("--ticks", type=int, default=10, help="rounds of update_session per viewer")
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between rounds")
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="Catena's base URL")
        parser.add_argument("--key", default=None,
                            help="the streaming server's key (default: that of the portal's server)")
        parser.add_argument("--in-process", action="store_true", help="call the views directly, no server needed")
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args, **options):
        portal = Portal.objects.filter(name=options["portal"]).first()
        if portal is None:
            raise CommandError(f"No portal named {options['portal']!r}.")
        server = streaming_servers.by_id(portal.streaming_server_id)
        key = options["key"] if options["key"] is not None else (server.key if server is not None else "")
        if not key:
            raise CommandError("The portal's streaming server has no key (the default server's is STREAMER_KEY); "
                               "set one, or pass --key: the endpoints refuse every request without it.")
        viewers = []
        for subscriber in Subscriber.objects.for_portal(portal).filter(disabled=False).order_by("id")[:options["viewers"]]:
            names = list(watchable_channels(subscriber).values_list("name", flat=True)[:20])
            viewers.append((subscriber.playback_token, names))
        if not viewers:
            raise CommandError("The portal has no enabled subscriber to play.")
        transport = ClientTransport() if options["in_process"] else HttpTransport(options["url"])
        simulator = StreamerSimulator(transport, key, viewers, seed=options["seed"])
        stats = simulator.run(options["ticks"], options["interval"])
        self.stdout.write(f"viewers: {len(viewers)}; auth answers: {dict(stats.auth)}")
        self.stdout.write(f"events sent: {stats.events_sent} in batches {dict(stats.batches)} "
                          f"({stats.duplicates} duplicates, {stats.late} late)")
