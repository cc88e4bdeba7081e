"""Celery tasks of the subscribers app."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from catena_site import prometheus

from . import reminders, services

log = logging.getLogger("catena.sms")
log_periods = logging.getLogger(__name__)


SENT_KEY = "sms:sent:{task_id}"
SENT_KEEP = 24 * 3600  # seconds a delivered task's id is remembered; redeliveries come within the hour


class SmsGatewayError(Exception):
    """The SMS gateway did not accept the message (network error or non-2xx answer)."""


@shared_task(
    name="subscribers.tasks.send_sms_http",
    bind=True,
    autoretry_for=(SmsGatewayError,),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=6,
)
def send_sms_http(self, to: str, text: str, portal_id: str) -> None:
    """Deliver one SMS through the HTTP gateway; a failure is logged and retried with backoff.

    Safe to run twice: a message redelivered after its worker died (``acks_late``) is not sent again once the
    gateway accepted it under the same task id.
    """
    sent_key = SENT_KEY.format(task_id=self.request.id) if self.request.id else None
    if sent_key and cache.get(sent_key):
        log.info("SMS to %s (portal %s) already accepted by the gateway (task %s); not sent again",
                 to, portal_id, self.request.id)
        return
    request = urllib.request.Request(
        settings.SMS_HTTP_URL,
        data=json.dumps({"to": to, "text": text}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    if settings.SMS_HTTP_AUTH_HEADER:
        name, _, value = settings.SMS_HTTP_AUTH_HEADER.partition(":")
        request.add_header(name.strip(), value.strip())
    try:
        with urllib.request.urlopen(request, timeout=settings.SMS_HTTP_TIMEOUT) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        log.warning("SMS to %s (portal %s) failed: %s; will retry", to, portal_id, exc)
        _count_failure(self, portal_id)
        raise SmsGatewayError(str(exc)) from None
    if not 200 <= status < 300:
        log.warning("SMS to %s (portal %s) refused by the gateway with HTTP %s; will retry", to, portal_id, status)
        _count_failure(self, portal_id)
        raise SmsGatewayError(f"HTTP {status}")
    if sent_key:
        cache.set(sent_key, True, SENT_KEEP)
    prometheus.count_sms(portal_id, "sent")
    log.info("SMS to %s (portal %s) accepted by the gateway", to, portal_id)


def _count_failure(task, portal_id: str) -> None:
    """A failed attempt: ``error`` while it will be retried, ``failed`` for the last one."""
    prometheus.count_sms(portal_id, "failed" if task.request.retries >= task.max_retries else "error")


@shared_task(name="subscribers.tasks.send_expiry_reminders")
def send_expiry_reminders() -> int:
    """The daily expiry reminders (``subscribers.reminders``); how many SMS were sent. Safe to run twice."""
    sent = reminders.send_expiry_reminders()
    log.info("sent %d expiry reminders", sent)
    return sent


@shared_task(name="subscribers.tasks.expire_subscriptions")
def expire_subscriptions() -> int:
    """Record the subscriptions whose period ended (once each) and close the play sessions they allowed."""
    recorded = services.expire_subscriptions()
    if recorded:
        log_periods.info("recorded %d expired subscriptions", recorded)
    return recorded
