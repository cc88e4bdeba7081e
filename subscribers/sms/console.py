import logging

from catena_site import prometheus

from . import SmsBackend

log = logging.getLogger("catena.sms")


class ConsoleBackend(SmsBackend):
    """Writes the message to the log (the default: development and demos)."""

    def send(self, to: str, text: str, portal_id: str) -> None:
        log.info("SMS to %s (portal %s): %s", to, portal_id, text)
        prometheus.count_sms(portal_id, "sent")
