"""SMS gateways behind one small interface, chosen by ``SMS_BACKEND`` (console, file, http).

A backend is a class with ``send(to, text, portal_id)``; adding a provider is one module with one class.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

BACKENDS = {
    "console": "subscribers.sms.console.ConsoleBackend",
    "file": "subscribers.sms.file.FileBackend",
    "http": "subscribers.sms.http.HttpBackend",
}


class SmsBackend:
    """Delivers one text message to an international number (``+12345678901``)."""

    def send(self, to: str, text: str, portal_id: str) -> None:
        raise NotImplementedError


def get_backend() -> SmsBackend:
    name = settings.SMS_BACKEND
    return import_string(BACKENDS.get(name, name))()
