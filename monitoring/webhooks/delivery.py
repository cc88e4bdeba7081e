"""Sending deliveries: signed ``POST``s, one webhook's deliveries one at a time and in order, retried for 24 h.

:func:`send_due` (the Celery task ``monitoring.tasks.deliver_webhook``, enqueued after the operation's commit)
takes the webhook's *lease* — a conditional UPDATE that must change exactly one row, so only one sender works on
a webhook at a time — and sends the head of its queue (its oldest delivery not yet delivered or failed) while
that head is due, then the next one. A delivery that gets no 2xx answer within ``WEBHOOK_TIMEOUT`` (10 s) is
retried after 30 s, 1 min, 2 min … (doubling, at most an hour apart) until 24 h after it was queued, then marked
failed; the deliveries after it wait meanwhile, so the receiver sees the operations in order.

Nothing is lost when a worker dies: deliveries are rows, written with the operation. A delivery is marked
``sending`` before its ``POST``; if the worker dies then, its lease runs out after ``WEBHOOK_LEASE`` (60 s) and
beat's sweep (:func:`sweep`, every minute) has the delivery sent again — with the same ``X-Catena-Delivery`` ID,
so the receiver can tell a repeat (it must expect each delivery at least once).

The ``POST`` goes through the EPG fetch's SSRF guard (``content.epg.guard``): the URL's host is resolved and
vetted at every attempt and the connection goes to exactly the vetted address, so a DNS answer that changed
since the webhook was saved (rebinding) cannot reach a private address.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import json
import logging
import secrets
import ssl
import time
from dataclasses import dataclass

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from catena_site import prometheus
from catena_site.access_events import enqueue
from content.epg import guard
from content.epg.errors import FetchFailed
from content.epg.http import pinned_connection
from monitoring.api.serializers import OperationSerializer
from monitoring.operations import (
    DELIVER_TASK,
    UNFINISHED,
    Delivery,
    DeliveryStatus,
    Operation,
    Webhook,
)

log = logging.getLogger(__name__)

RETRY_WINDOW = dt.timedelta(hours=24)
FIRST_RETRY = 30  # seconds after the first failed attempt; doubling after each further one
MAX_RETRY = 3600  # seconds: the longest wait between two attempts
WORK_SECONDS = 120  # one task's share of sending before it queues its successor (other webhooks get a turn)
MAX_RESPONSE_BYTES = 64 * 1024  # of a receiver's answer: read (so the connection ends cleanly), then dropped
USER_AGENT = "Catena-Webhooks/1"


def timeout() -> float:
    return float(getattr(settings, "WEBHOOK_TIMEOUT", 10.0))


def lease() -> dt.timedelta:
    return dt.timedelta(seconds=float(getattr(settings, "WEBHOOK_LEASE", 60.0)))


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``X-Catena-Signature``: ``sha256=`` and the hex HMAC-SHA256, keyed by the webhook's secret, of
    ``timestamp + "." + body``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def body_of(operation: Operation) -> bytes:
    """The operation's JSON, exactly as ``GET /operations/{id}`` shows it (compact, UTF-8)."""
    data = OperationSerializer(operation).data
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def retry_delay(attempts: int) -> dt.timedelta:
    """The wait after the ``attempts``-th failed attempt: 30 s, 60 s, 120 s … at most ``MAX_RETRY``."""
    return dt.timedelta(seconds=min(MAX_RETRY, FIRST_RETRY * 2 ** max(0, min(attempts - 1, 20))))


@dataclass(frozen=True)
class Answer:
    """What one ``POST`` got: the HTTP status (None without one) and, unless 2xx, what went wrong."""

    code: int | None
    error: str = ""

    @property
    def delivered(self) -> bool:
        return self.code is not None and 200 <= self.code < 300


def post(url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """``POST body`` to ``url`` through the SSRF guard, within ``WEBHOOK_TIMEOUT``; redirects are not followed
    (a 3xx is not a delivery). Never raises for the receiver's or the network's failures."""
    limit = timeout()
    try:
        target = guard.resolve(url, allow_private=settings.EPG_ALLOW_PRIVATE_URLS)
    except FetchFailed as exc:
        return Answer(None, str(exc).replace("Refused to fetch", "Refused to deliver to")[:500])
    deadline = time.monotonic() + limit
    try:
        connection = pinned_connection(target, limit)
    except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
        return Answer(None, f"Could not deliver to {target.host}: {exc or type(exc).__name__}."[:500])
    try:
        connection.request("POST", target.path, body=body, headers={
            "Content-Type": "application/json", "User-Agent": USER_AGENT, **headers})
        connection.sock.settimeout(max(0.01, deadline - time.monotonic()))
        response = connection.getresponse()
        response.read(MAX_RESPONSE_BYTES)
    except TimeoutError:
        return Answer(None, f"No answer from {target.host} within {limit:g} s.")
    except (OSError, http.client.HTTPException, ssl.CertificateError) as exc:
        return Answer(None, f"Could not deliver to {target.host}: {exc or type(exc).__name__}."[:500])
    finally:
        connection.close()
    if 200 <= response.status < 300:
        return Answer(response.status)
    return Answer(response.status, f"HTTP {response.status} {response.reason or ''}".strip()[:500])


# --- The lease: one sender per webhook ------------------------------------------------------------------------


def _take_lease(webhook_id: int, token: str) -> bool:
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    return Webhook.objects.filter(free, pk=webhook_id).update(lease_until=now + lease(), lease_token=token) == 1


def _renew_lease(webhook_id: int, token: str) -> bool:
    return Webhook.objects.filter(pk=webhook_id, lease_token=token).update(
        lease_until=timezone.now() + lease()) == 1


def _release_lease(webhook_id: int, token: str) -> None:
    Webhook.objects.filter(pk=webhook_id, lease_token=token).update(lease_until=None, lease_token="")


# --- Sending --------------------------------------------------------------------------------------------------


def send_due(webhook_id: int) -> int:
    """Send the webhook's due deliveries in order, until its queue is empty, its head is not due yet (waiting for
    a retry) or this run's share of time is used (a successor is queued). Returns how many were delivered; 0
    at once when another sender holds the webhook's lease or the webhook is paused or gone."""
    token = secrets.token_hex(8)
    if not _take_lease(webhook_id, token):
        return 0
    delivered = 0
    started = time.monotonic()
    try:
        while True:
            webhook = Webhook.objects.filter(pk=webhook_id).first()
            if webhook is None or not webhook.active:
                return delivered
            head = Delivery.objects.filter(webhook_id=webhook_id, status__in=UNFINISHED).order_by("id").first()
            if head is None or head.next_at > timezone.now():
                return delivered
            if time.monotonic() - started > WORK_SECONDS:
                enqueue(DELIVER_TASK, webhook_id=webhook_id)
                return delivered
            if not _renew_lease(webhook_id, token):
                return delivered  # a lease that ran out meanwhile belongs to another sender now
            answer = attempt(webhook, head)
            if answer.delivered:
                delivered += 1
    finally:
        _release_lease(webhook_id, token)
        # A delivery committed between the last look at the queue and the release found the lease taken and left
        # it to this sender: queue another run rather than leave it to the next sweep.
        head = (Delivery.objects.filter(webhook_id=webhook_id, webhook__active=True, status__in=UNFINISHED)
                .order_by("id").only("status", "next_at").first())
        if head is not None and head.status == DeliveryStatus.PENDING and head.next_at <= timezone.now():
            enqueue(DELIVER_TASK, webhook_id=webhook_id)


def attempt(webhook: Webhook, delivery: Delivery) -> Answer:
    """One attempt of ``delivery``: marked ``sending`` (and counted) first, then posted, then marked delivered,
    or due again after the backoff, or failed once its 24 hours are over."""
    now = timezone.now()
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.SENDING, attempts=F("attempts") + 1,
                                                   last_attempt_at=now)
    attempts = delivery.attempts + 1
    operation = Operation.objects.filter(pk=delivery.operation_id).first()
    if operation is None:  # dropped with its partition by OPERATION_RETENTION_DAYS: nothing left to send
        answer = Answer(None, "The operation no longer exists.")
        _finish(delivery, answer, attempts, now, give_up=True)
        return answer
    try:
        body = body_of(operation)
        timestamp = str(int(now.timestamp()))
        answer = post(webhook.url, body, {
            "X-Catena-Event": delivery.type,
            "X-Catena-Delivery": delivery.public_id,
            "X-Catena-Timestamp": timestamp,
            "X-Catena-Signature": signature(webhook.secret, timestamp, body),
        })
    except Exception as exc:  # a bug of ours must not hold the webhook's queue: an attempt failed, retried as any
        log.exception("webhook delivery %s (%s) could not be attempted", delivery.public_id, delivery.type)
        answer = Answer(None, f"Catena could not send it: {type(exc).__name__}: {exc}"[:500])
    _finish(delivery, answer, attempts, timezone.now())
    return answer


def _finish(delivery: Delivery, answer: Answer, attempts: int, now: dt.datetime, *, give_up: bool = False) -> None:
    fields = {"last_code": answer.code, "last_error": answer.error}
    if answer.delivered:
        fields.update(status=DeliveryStatus.DELIVERED, delivered_at=now)
        log.info("webhook delivery %s (%s) delivered: HTTP %s", delivery.public_id, delivery.type, answer.code)
    else:
        ends = delivery.retry_from + RETRY_WINDOW
        if give_up or now >= ends:
            fields.update(status=DeliveryStatus.FAILED)
            log.warning("webhook delivery %s (%s) failed after %d attempts: %s", delivery.public_id, delivery.type,
                        attempts, answer.error)
        else:
            fields.update(status=DeliveryStatus.PENDING, next_at=min(now + retry_delay(attempts), ends))
            log.warning("webhook delivery %s (%s) attempt %d failed (%s); retrying at %s", delivery.public_id,
                        delivery.type, attempts, answer.error, fields["next_at"].isoformat())
    # Only a delivery still being sent: a "send again" meanwhile left it pending and due, which stays.
    Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(**fields)
    result = {DeliveryStatus.DELIVERED: "delivered", DeliveryStatus.FAILED: "failed"}.get(fields["status"], "retrying")
    prometheus.count_webhook_delivery(delivery.portal_id, result)


def sweep() -> int:
    """Beat's safety net, every minute: queue the sending of every active webhook that has a due delivery —
    those whose after-commit job was lost (broker down, worker killed mid-send) and those waiting for a retry.
    Also drops the deliveries of webhooks deleted while they were being queued. Returns how many were queued."""
    now = timezone.now()
    due = (Delivery.objects.filter(status__in=UNFINISHED, next_at__lte=now).order_by()
           .values_list("webhook_id", flat=True).distinct())
    webhook_ids = set(due)
    if not webhook_ids:
        return 0
    live = dict(Webhook.objects.filter(pk__in=webhook_ids).values_list("id", "active"))
    gone = webhook_ids - set(live)
    if gone:
        Delivery.objects.filter(webhook_id__in=gone).delete()
    queued = 0
    for webhook_id in sorted(pk for pk, active in live.items() if active):
        queued += enqueue(DELIVER_TASK, webhook_id=webhook_id)
    return queued
