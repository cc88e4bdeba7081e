"""Celery tasks of the portals app: periodic clean-up, and the password reset emails."""

import logging

from celery import shared_task
from django.core.cache import cache

from . import password_reset, services

log = logging.getLogger(__name__)

RESET_SENT_KEY = "password-reset:sent:{task_id}"
RESET_SENT_KEEP = 24 * 3600  # seconds a sent task's id is remembered; redeliveries come within the hour


@shared_task(name="portals.tasks.purge_expired_manager_sessions")
def purge_expired_manager_sessions() -> int:
    """Remove manager sessions idle past MANAGER_SESSION_TTL (they are refused anyway; this frees the rows)."""
    deleted = services.purge_expired_sessions()
    log.info("purged %d expired manager sessions", deleted)
    return deleted


@shared_task(name="portals.tasks.send_password_reset_links", bind=True, autoretry_for=(OSError,),
             retry_backoff=10, retry_backoff_max=600, retry_jitter=True, max_retries=6)
def send_password_reset_links(self, email: str, site_url: str) -> int:
    """Email ``email`` a reset link per portal account it has (``portals.password_reset.send_links``); the
    number of accounts. An SMTP error or an unreachable server (``OSError``) is retried with backoff.

    Safe to run twice: a message redelivered after its worker died is not sent again once the mail server
    accepted it under the same task id.
    """
    sent_key = RESET_SENT_KEY.format(task_id=self.request.id) if self.request.id else None
    if sent_key and cache.get(sent_key):
        return 0
    count = password_reset.send_links(email, site_url)
    if sent_key:
        cache.set(sent_key, True, RESET_SENT_KEEP)
    return count
