"""Every change of EPG sources and their fetches.

Sources: one function per change, each checking the caller's permission and the invariants and writing the
change with its operation row in one transaction. Fetches: :func:`request_fetch` queues one (or returns the
one already queued or running), :func:`run_fetch` claims and runs it, :func:`dispatch_due_fetches` is what
Celery beat calls every minute (``content.dispatch-epg-fetches``).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connections, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from catena_site import prometheus
from catena_site.errors import ServiceError
from monitoring.operations import OperationType, changes, record
from portals.services import guide_language

from ..inputs import EpgSourceInput
from ..models import (
    ACTIVE_STATUSES,
    Channel,
    EpgFetch,
    EpgSource,
    FetchStatus,
    FetchTrigger,
    Program,
)
from ..services import duplicate_name, lock_portal, promote_first_extra
from .errors import FetchFailed
from .importer import ImportReport, import_guide
from .mapping import warm_suggestions
from .selectors import active_fetch

log = logging.getLogger(__name__)

# A queued fetch no worker picked up, or a running one whose worker vanished, is given up after this.
QUEUED_GRACE = dt.timedelta(hours=1)
RUNNING_GRACE = dt.timedelta(minutes=5)
WORKER_STOPPED = "The worker stopped during the import"
NOT_QUEUED = "Could not queue the job: broker unreachable"


class BrokerUnavailable(ServiceError):
    """The job could not be handed to the broker: 503, nothing was started."""

    status = 503


def source_snapshot(source: EpgSource) -> dict:
    return {"name": source.name, "url": source.url, "period": source.period, "offsetMinutes": source.offset_minutes,
            "forceOffset": source.force_offset}


# --- Sources ----------------------------------------------------------------------------------------------


def _name_taken(portal, name: str, exclude: int | None = None) -> bool:
    return EpgSource.objects.for_portal(portal).filter(name=name).exclude(pk=exclude).exists()


def _link_channels(source: EpgSource) -> int:
    """Link the channels of the source's portal that name it (first or among further sources) and are not
    linked yet; how many there were."""
    linked = Channel.objects.filter(portal_id=source.portal_id, epg_source_name=source.name,
                                    epg_source__isnull=True).update(epg_source=source, updated_at=timezone.now())
    return linked + len(_rewrite_extra_sources(
        source.portal_id, lambda name, epg_channel, source_id: [name, epg_channel, source.id]
        if name == source.name and source_id is None else [name, epg_channel, source_id]))


def _rewrite_extra_sources(portal_id: int, rewrite) -> list[Channel]:
    """Apply ``rewrite(name, epg channel, source id)`` → entry or None (dropped) to the further EPG sources of
    the portal's channels; save and return the channels it changed (a pair left empty takes the first further
    source, ``promote_first_extra``)."""
    changed = []
    for channel in (Channel.objects.filter(portal_id=portal_id).exclude(epg_extra_sources=[])
                    .only("id", "name", "epg_source_name", "epg_source", "epg_channel_name", "epg_extra_sources")):
        entries = [entry for entry in (rewrite(*entry) for entry in channel.epg_extra_sources) if entry is not None]
        if entries != channel.epg_extra_sources:
            channel.epg_extra_sources = entries
            promote_first_extra(channel)
            channel.save(update_fields=["epg_source_name", "epg_source", "epg_channel_name", "epg_extra_sources",
                                        "updated_at"])
            changed.append(channel)
    return changed


def create_epg_source(portal, *, caller, data: dict) -> EpgSource:
    """Create a source, due for its first fetch at the next dispatch; a taken name is a 409. The channels
    that already name it are linked to it. Records ``createEpgSource``.
    """
    caller.require("isContentAdmin")
    values = EpgSourceInput.check(data, portal=portal)
    with transaction.atomic():
        lock_portal(portal)
        if _name_taken(portal, values["name"]):
            raise duplicate_name("an EPG source", values["name"])
        try:
            with transaction.atomic():
                source = EpgSource.objects.create(portal=portal, **values)
        except IntegrityError:
            raise duplicate_name("an EPG source", values["name"]) from None
        linked = _link_channels(source)
        payload = {"epgSourceId": source.public_id, **source_snapshot(source)}
        if linked:
            payload["channels"] = linked
        record(portal, OperationType.CREATE_EPG_SOURCE, actor=caller.actor, payload=payload)
    return source


def update_epg_source(source: EpgSource, *, caller, data: dict) -> EpgSource:
    """Rename a source or change its URL, period or offset; never starts a fetch itself. Records
    ``updateEpgSource``. A new offset re-imports: see :func:`_offset_changed`.

    A rename renames the reference of the channels linked to the source (their ``epgSourceName`` shows the new
    name; their ``updated_at`` is touched so that readers polling for changes see them) and links the channels
    that already name the new name. A new period reschedules the next automatic fetch from the last
    successful one.
    """
    caller.require("isContentAdmin")
    values = EpgSourceInput.check(data, partial=True, portal=source.portal, source=source)
    with transaction.atomic():
        if "name" in values:
            lock_portal(source.portal)
        source = EpgSource.objects.select_for_update(of=("self",)).select_related("portal").get(pk=source.pk)
        if "name" in values and values["name"] != source.name and _name_taken(source.portal, values["name"], source.pk):
            raise duplicate_name("an EPG source", values["name"])
        before = source_snapshot(source)
        for name, value in values.items():
            setattr(source, name, value)
        diff = changes(before, source_snapshot(source))
        if not diff:
            return source
        if "period" in diff:
            last_success = source.fetches.filter(status=FetchStatus.SUCCESS).order_by("-id").first()
            if last_success is not None and not source.failures:
                source.next_fetch_at = last_success.created_at + source.period_delta
        removed = _offset_changed(source) if {"offsetMinutes", "forceOffset"} & set(diff) else None
        if {"url", "offsetMinutes", "forceOffset"} & set(diff):
            _forget_guide(source)
        try:
            with transaction.atomic():
                source.save()
        except IntegrityError:
            raise duplicate_name("an EPG source", source.name) from None
        payload = {"epgSourceId": source.public_id, "name": source.name, "changes": diff}
        if removed is not None:
            payload["deletedPrograms"] = removed
        if "name" in diff:
            renamed = Channel.objects.filter(epg_source=source).update(epg_source_name=source.name,
                                                                      updated_at=timezone.now())
            renamed += len(_rewrite_extra_sources(
                source.portal_id, lambda name, epg_channel, source_id: [source.name, epg_channel, source_id]
                if source_id == source.id else [name, epg_channel, source_id]))
            payload["channels"] = renamed + _link_channels(source)
        record(source.portal, OperationType.UPDATE_EPG_SOURCE, actor=caller.actor, payload=payload)
    return source


def _offset_changed(source: EpgSource) -> int:
    """The source's times are read with another offset from now on: its programmes that have not ended (stored
    with the old offset, so they would overlap the re-imported ones) are deleted and the source is due at once,
    so the dispatcher re-imports it within a minute. Past programmes are kept (the archive's history). Returns
    how many programmes were deleted."""
    source.next_fetch_at = timezone.now()
    return Program.objects.filter(epg_source=source, end__gt=timezone.now()).delete()[0]


def _forget_guide(source: EpgSource) -> None:
    """The body imported last maps to other programmes now (another URL, another offset): forget it, so the
    next fetch imports whatever it downloads (see ``importer.KeptGuide``)."""
    source.guide_digest = source.guide_etag = source.guide_last_modified = ""
    source.guide_imported_at = None


def delete_epg_source(source: EpgSource, *, caller) -> list[str]:
    """Delete a source with its programmes and fetch history; channels that used it lose their EPG fields
    (``epgSourceName`` and ``epgChannelName``; where they name further sources, the first of those takes the
    pair's place) or the ``epgSources`` entry naming it.

    Returns the names of those channels. Records ``deleteEpgSource``.
    """
    caller.require("isContentAdmin")
    with transaction.atomic():
        lock_portal(source.portal)
        source = EpgSource.objects.select_for_update(of=("self",)).select_related("portal").get(pk=source.pk)
        channels = Channel.objects.filter(epg_source=source)
        cleared = dict(channels.order_by("id").values_list("id", "name"))
        channels.update(epg_source=None, epg_source_name="", epg_channel_name="", updated_at=timezone.now())
        dropped = _rewrite_extra_sources(source.portal_id, lambda name, epg_channel, source_id: None
                                         if source_id == source.id else [name, epg_channel, source_id])
        cleared.update((channel.id, channel.name) for channel in dropped)
        for channel in Channel.objects.filter(pk__in=list(cleared), epg_source_name="").exclude(epg_extra_sources=[]):
            promote_first_extra(channel)  # a cleared pair takes the first further source
            channel.save(update_fields=["epg_source_name", "epg_source", "epg_channel_name", "epg_extra_sources",
                                        "updated_at"])
        names = [cleared[channel_id] for channel_id in sorted(cleared)]
        record(source.portal, OperationType.DELETE_EPG_SOURCE, actor=caller.actor,
               payload={"epgSourceId": source.public_id, "name": source.name, "channels": names})
        Program.objects.filter(epg_source=source).delete()  # a single DELETE, however many programmes
        source.delete()
    return names


# --- Fetches ----------------------------------------------------------------------------------------------


def _enqueue(fetch: EpgFetch) -> None:
    """Send the fetch's job; when the broker cannot take it, the fetch ends ``error`` at once (it would
    otherwise block its source as ``queued`` for QUEUED_GRACE) and BrokerUnavailable (503) is raised."""
    from kombu.exceptions import OperationalError

    from ..tasks import fetch_epg_source

    try:
        fetch_epg_source.apply_async(args=[fetch.id], task_id=fetch.job_id)
    except (OperationalError, OSError) as exc:
        log.error("EPG fetch %s of source %s could not be queued: %s", fetch.job_id, fetch.epg_source_id, exc)
        _finish(fetch, FetchStatus.ERROR, f"{NOT_QUEUED} ({type(exc).__name__}: {exc}). Nothing was fetched; "
                                          "the source is retried later.", None, only_if_status=FetchStatus.QUEUED)
        raise BrokerUnavailable("Could not queue the job: the broker (the background job queue) is unreachable. "
                                "Nothing was started; try again once background jobs are running.") from None


def request_fetch(source: EpgSource, *, caller=None, trigger: str = FetchTrigger.MANUAL) -> tuple[EpgFetch, bool]:
    """Queue a fetch of ``source`` and return ``(fetch, True)``; while one is queued or running, return
    ``(that fetch, False)`` instead. ``caller`` (None for the scheduler) needs ``isContentAdmin``.

    The job is sent to the broker only when the transaction commits; the fetch's ``job_id`` is its id. When the
    broker cannot take it, the fetch is recorded as failed and BrokerUnavailable (503) is raised then.
    """
    if caller is not None:
        caller.require("isContentAdmin")
    with transaction.atomic():
        source = EpgSource.objects.select_for_update().get(pk=source.pk)  # serializes requests per source
        active = active_fetch(source)
        if active is not None:
            if not stale_fetches().filter(pk=active.pk).exists():
                return active, False
            _abandon(active)  # its worker is gone: do not hand out a job that will never finish
        try:
            with transaction.atomic():
                fetch = EpgFetch.objects.create(portal_id=source.portal_id, epg_source=source,
                                                job_id=uuid.uuid4().hex, trigger=trigger)
        except IntegrityError:  # another process queued one between our check and insert
            return source.fetches.get(status__in=ACTIVE_STATUSES), False
        transaction.on_commit(lambda: _enqueue(fetch))
    return fetch, True


def lease_length() -> dt.timedelta:
    return dt.timedelta(seconds=settings.EPG_FETCH_LEASE)


def _claim(fetch_id: int) -> EpgFetch | None:
    """Mark a queued fetch running, with a fresh lease; None if it is gone or another worker claimed it
    already (so a job delivered twice runs once)."""
    now = timezone.now()
    claimed = EpgFetch.objects.filter(pk=fetch_id, status=FetchStatus.QUEUED).update(
        status=FetchStatus.RUNNING, started_at=now, lease_until=now + lease_length())
    if claimed != 1:
        return None
    return EpgFetch.objects.select_related("epg_source", "epg_source__portal").filter(pk=fetch_id).first()


def retry_delay(failures: int, period_days: int) -> dt.timedelta:
    """Backoff after ``failures`` consecutive failures: EPG_RETRY_BACKOFF doubling, at most the period."""
    seconds = settings.EPG_RETRY_BACKOFF * 2 ** min(max(failures - 1, 0), 20)
    return min(dt.timedelta(seconds=seconds), dt.timedelta(days=period_days))


def _finish(fetch: EpgFetch, status: str, message: str, report: ImportReport | None, *,
            only_if_status: str | None = None, only_if_lease: bool = False) -> None:
    """Write a fetch's outcome and reschedule its source, in one transaction (or the caller's);
    with ``only_if_status``, only while the fetch still has that status (and with ``only_if_lease``, while
    its lease is still the one ``fetch`` holds: a worker that renewed it meanwhile is alive)."""
    with transaction.atomic():
        _write_outcome(fetch, status, message, report or ImportReport(), only_if_status, only_if_lease)


def _write_outcome(fetch: EpgFetch, status: str, message: str, report: ImportReport, only_if_status,
                   only_if_lease: bool = False) -> None:
    now = timezone.now()
    fetches = EpgFetch.objects.filter(pk=fetch.pk)
    if only_if_status is not None:
        fetches = fetches.filter(status=only_if_status)
    if only_if_lease:
        fetches = fetches.filter(lease_until=fetch.lease_until)
    written = fetches.update(
        status=status, message=message[:4000], channels=report.channels, found_programs=report.found,
        imported_programs=report.imported, deleted_programs=report.deleted,
        fetch_duration=round(report.fetch_seconds, 3),
        import_duration=round(report.import_seconds, 3) if status == FetchStatus.SUCCESS else None,
        fetched_at=report.fetched_at or now, finished_at=now)
    if written:
        seconds = (now - fetch.started_at).total_seconds() if fetch.started_at else None
        transaction.on_commit(lambda: prometheus.count_epg_fetch(fetch.portal_id, status, seconds))
    source = EpgSource.objects.filter(pk=fetch.epg_source_id).first()
    if not written or source is None:
        return
    if status == FetchStatus.SUCCESS:
        source.failures, source.next_fetch_at = 0, fetch.created_at + source.period_delta
    else:
        source.failures += 1
        source.next_fetch_at = now + retry_delay(source.failures, source.period)
    kept = report.source_fields() if status == FetchStatus.SUCCESS else {}
    EpgSource.objects.filter(pk=source.pk).update(failures=source.failures, next_fetch_at=source.next_fetch_at,
                                                  last_fetch_id=fetch.pk, **kept)


class Lease:
    """Renews a running fetch's lease from a thread of the importing worker, every third of EPG_FETCH_LEASE,
    until the import ends. A worker that is killed stops renewing: once ``lease_until`` has passed, the
    dispatcher gives the fetch up (:func:`abandon_stale_fetches`)."""

    def __init__(self, fetch_id: int):
        self.fetch_id = fetch_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"epg-lease-{fetch_id}", daemon=True)

    def __enter__(self) -> Lease:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        interval = max(settings.EPG_FETCH_LEASE / 3, 0.1)
        try:
            while not self._stop.wait(interval):
                try:
                    EpgFetch.objects.filter(pk=self.fetch_id, status=FetchStatus.RUNNING).update(
                        lease_until=timezone.now() + lease_length())
                except DatabaseError as exc:  # the next renewal may succeed; the lease has margin
                    log.warning("EPG fetch %s: could not renew its lease: %s", self.fetch_id, exc)
        finally:
            connections.close_all()  # this thread's own connections


def run_fetch(fetch_id: int) -> EpgFetch | None:
    """Claim a queued fetch and run it to its end: success, error or timeout. Returns the finished fetch,
    or None when there was nothing to do (gone, or claimed by another worker).

    Failures never raise: they are the fetch's outcome, and the source is retried with backoff.
    """
    fetch = _claim(fetch_id)
    if fetch is None:
        return None
    source = fetch.epg_source

    def succeeded(report: ImportReport) -> None:
        _finish(fetch, FetchStatus.SUCCESS, report.message(), report)

    try:
        with Lease(fetch.id):
            import_guide(source, timeout=settings.EPG_FETCH_TIMEOUT, max_bytes=settings.EPG_MAX_BYTES,
                         allow_private=settings.EPG_ALLOW_PRIVATE_URLS, retention_days=settings.EPG_RETENTION_DAYS,
                         language=guide_language(source.portal), max_channels=settings.EPG_MAX_CHANNELS,
                         on_success=succeeded)
    except FetchFailed as exc:
        log.info("EPG fetch %s of source %s: %s: %s", fetch.job_id, source.pk, exc.status, exc)
        _finish(fetch, exc.status, str(exc), None)
    except Exception as exc:  # a bug or a database failure: record it where operators look, then log it
        log.exception("EPG fetch %s of source %s failed", fetch.job_id, source.pk)
        _finish(fetch, FetchStatus.ERROR, f"Internal error while importing: {type(exc).__name__}: {exc}", None)
    fetch.refresh_from_db()
    if fetch.status == FetchStatus.SUCCESS:
        warm_mapping(fetch.epg_source_id)
    return fetch


def warm_mapping(source_id: int) -> None:
    """Compute the guided mapping's suggestions the source's stored channels give, after its fetch committed
    (:func:`.mapping.warm_suggestions`: only what the cache lacks), so the mapping's first view is fast. Never
    raises: the fetch succeeded whatever happens here, and a view computes what is missing itself."""
    started = time.perf_counter()
    try:
        suggested = warm_suggestions(source_id)
    except Exception:
        log.exception("EPG source %s: could not compute the mapping suggestions after its fetch", source_id)
        return
    log.info("EPG source %s: %d mapping suggestions ready in %.2f s", source_id, suggested,
             time.perf_counter() - started)


def stale_fetches(now: dt.datetime | None = None):
    """Fetches queued for longer than QUEUED_GRACE, running with an expired lease (their worker died), or
    running past EPG_FETCH_TIMEOUT + RUNNING_GRACE (a worker alive but stuck)."""
    now = now or timezone.now()
    running_limit = dt.timedelta(seconds=settings.EPG_FETCH_TIMEOUT) + RUNNING_GRACE
    return EpgFetch.objects.filter(Q(status=FetchStatus.QUEUED, created_at__lt=now - QUEUED_GRACE)
                                   | Q(status=FetchStatus.RUNNING, lease_until__lt=now)
                                   | Q(status=FetchStatus.RUNNING, started_at__lt=now - running_limit))


def _abandon(fetch: EpgFetch, now: dt.datetime | None = None) -> None:
    now = now or timezone.now()
    running_limit = dt.timedelta(seconds=settings.EPG_FETCH_TIMEOUT) + RUNNING_GRACE
    if fetch.status == FetchStatus.QUEUED:
        message = "Abandoned: no worker started it."
    elif fetch.lease_until is not None and fetch.lease_until < now and fetch.started_at >= now - running_limit:
        seen = timezone.localtime(fetch.lease_until - lease_length(), dt.UTC)
        message = (f"{WORKER_STOPPED} (no sign of life since {seen:%Y-%m-%d %H:%M:%S} UTC); the programmes were "
                   "left as they were and the source is retried.")
    else:
        message = "Abandoned: its worker stopped reporting."
    _finish(fetch, FetchStatus.ERROR, message, None, only_if_status=fetch.status, only_if_lease=True)


def abandon_stale_fetches(now: dt.datetime | None = None) -> int:
    """Give up fetches whose worker never started or vanished, so their source can be fetched again."""
    stale = list(stale_fetches(now))
    for fetch in stale:
        _abandon(fetch, now)
    return len(stale)


def due_sources(now: dt.datetime | None = None):
    """Sources whose next automatic fetch is due and that have no fetch queued or running."""
    now = now or timezone.now()
    active = EpgFetch.objects.filter(epg_source=OuterRef("pk"), status__in=ACTIVE_STATUSES)
    return EpgSource.objects.filter(next_fetch_at__lte=now).exclude(Exists(active)).order_by("next_fetch_at")


def dispatch_due_fetches(now: dt.datetime | None = None, limit: int = 500) -> int:
    """Queue a fetch for every due source (at most ``limit`` per call); return how many were queued."""
    abandon_stale_fetches(now)
    queued = 0
    for source in due_sources(now)[:limit]:
        try:
            _, created = request_fetch(source, trigger=FetchTrigger.SCHEDULE)
        except BrokerUnavailable:  # recorded on that fetch; the other sources wait for the next dispatch
            break
        queued += created
    return queued
