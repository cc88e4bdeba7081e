import fcntl
import json

from django.conf import settings

from catena_site import prometheus

from . import SmsBackend


class FileBackend(SmsBackend):
    """Appends one JSON line ``{"to", "text", "portalId"}`` per message to ``SMS_FILE_PATH``."""

    def send(self, to: str, text: str, portal_id: str) -> None:
        line = json.dumps({"to": to, "text": text, "portalId": portal_id}) + "\n"
        with open(settings.SMS_FILE_PATH, "a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # several workers may append at once
            handle.write(line)
        prometheus.count_sms(portal_id, "sent")
