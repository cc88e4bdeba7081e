"""Session re-checks after access changes are merged per portal (issue 11, item 5).

A burst of changes must not become a burst of jobs: each change leaves its scope behind, and one job per
portal takes everything waiting. These tests send the jobs to a real broker queue of their own (no worker
consumes it), count what arrived there, and then run each job as a worker would.
"""

from __future__ import annotations

import uuid

import pytest

from catena_site import access_events
from catena_site.celery import app as celery_app
from catena_site.models import PendingRecheck
from monitoring import tasks
from monitoring.models import PlaySession
from subscribers import services as subscribers

from .conftest import KEY, caller, check, make_channel, make_package, make_subscriber


@pytest.fixture
def queue():
    """Tasks are sent (not run eagerly) to a broker queue of this test's own; yields a function that takes them."""
    name = f"catena-recheck-test-{uuid.uuid4().hex[:8]}"
    previous = celery_app.conf.task_always_eager, celery_app.conf.task_default_queue
    celery_app.conf.task_always_eager, celery_app.conf.task_default_queue = False, name

    def take() -> list[tuple[str, dict]]:
        """Every message waiting in the queue (removed from it): ``(task name, keyword arguments)``."""
        found = []
        with celery_app.connection_for_read() as connection:
            channel = connection.default_channel
            while (message := channel.basic_get(name, no_ack=True)) is not None:
                _, kwargs, _ = message.decode()
                found.append((message.headers["task"], kwargs))
        return found

    yield take
    take()  # leave nothing behind in a broker other tests share
    celery_app.conf.task_always_eager, celery_app.conf.task_default_queue = previous


def rechecks(jobs: list[tuple[str, dict]]) -> list[dict]:
    return [kwargs for name, kwargs in jobs if name == access_events.RECHECK_TASK]


def run(jobs: list[tuple[str, dict]]) -> None:
    """Run the re-check jobs as the worker would."""
    for kwargs in rechecks(jobs):
        tasks.recheck_sessions(**kwargs)


def play(client, subscriber, name) -> str:
    """Start a session with the key of the subscriber's own streaming server (``other_portal`` has its own)."""
    session_id = str(uuid.uuid4())
    key = subscriber.portal.streaming_server.key or KEY
    assert check(client, subscriber.playback_token, name, session_id=session_id, key=key).status_code == 200
    return session_id


def active(session_ids) -> set[str]:
    return set(PlaySession.objects.filter(streamer_session_id__in=session_ids, active=True)
               .values_list("streamer_session_id", flat=True))


@pytest.fixture
def crowd(portal, other_portal, client):
    """Eight subscribers of ``portal`` playing ``news`` (package ``basic``), one of ``other_portal`` likewise."""
    news = make_channel(portal, "news")
    basic = make_package(portal, "basic", [news])
    people = [make_subscriber(portal, f"Viewer {n}", [basic]) for n in range(8)]
    sessions = [play(client, person, "news") for person in people]
    other_news = make_channel(other_portal, "news")
    other_basic = make_package(other_portal, "basic", [other_news])
    stranger = make_subscriber(other_portal, "Stranger", [other_basic])
    return {"portal": portal, "basic": basic, "people": people, "sessions": sessions, "news": news,
            "other": other_portal, "other_basic": other_basic, "stranger": stranger,
            "stranger_session": play(client, stranger, "news")}


def test_many_changes_in_one_portal_queue_one_job_and_close_every_session(crowd, committed, queue):
    who = caller(crowd["portal"])
    for person in crowd["people"]:
        committed(subscribers.unsubscribe, person, crowd["basic"], caller=who)
    jobs = queue()
    assert rechecks(jobs) == [{"portal_id": crowd["portal"].id}]  # one job, not eight
    assert active(crowd["sessions"]) == set(crowd["sessions"])  # nothing closed before the job runs
    run(jobs)
    assert active(crowd["sessions"]) == set()  # the merged scope closed every session that lost access
    assert PendingRecheck.objects.count() == 0
    assert active([crowd["stranger_session"]]) == {crowd["stranger_session"]}  # the other portal untouched


def test_changes_in_two_portals_are_never_merged(crowd, committed, queue):
    committed(subscribers.unsubscribe, crowd["people"][0], crowd["basic"], caller=caller(crowd["portal"]))
    committed(subscribers.set_disabled, crowd["stranger"], True, caller=caller(crowd["other"]))
    committed(subscribers.unsubscribe, crowd["people"][1], crowd["basic"], caller=caller(crowd["portal"]))
    jobs = queue()
    assert sorted(job["portal_id"] for job in rechecks(jobs)) == sorted([crowd["portal"].id, crowd["other"].id])
    run(jobs)
    assert active(crowd["sessions"][:2] + [crowd["stranger_session"]]) == set()
    assert active(crowd["sessions"][2:]) == set(crowd["sessions"][2:])  # still subscribed


def test_once_the_job_has_run_the_next_change_queues_a_new_one(crowd, committed, queue):
    who = caller(crowd["portal"])
    committed(subscribers.unsubscribe, crowd["people"][0], crowd["basic"], caller=who)
    run(queue())
    committed(subscribers.reset_playback_token, crowd["people"][1], caller=who)
    jobs = queue()
    assert rechecks(jobs) == [{"portal_id": crowd["portal"].id}]
    run(jobs)
    assert active(crowd["sessions"][:2]) == set()


def test_changes_made_while_the_job_runs_are_taken_by_the_same_job(crowd, committed, queue, monkeypatch):
    """A change commits while the job is re-checking: it queues nothing (the job is under way), and the job,
    finding its scope before letting go, re-checks it too."""
    from monitoring import sessions

    who = caller(crowd["portal"])
    real = sessions.recheck_sessions
    late = iter(crowd["people"][1:4])

    def recheck_while_changes_arrive(*args, **kwargs):
        person = next(late, None)
        if person is not None:
            committed(subscribers.unsubscribe, person, crowd["basic"], caller=who)
        return real(*args, **kwargs)

    committed(subscribers.unsubscribe, crowd["people"][0], crowd["basic"], caller=who)
    jobs = queue()
    assert len(rechecks(jobs)) == 1
    monkeypatch.setattr(sessions, "recheck_sessions", recheck_while_changes_arrive)
    run(jobs)
    assert rechecks(queue()) == []  # the late changes needed no job of their own
    assert active(crowd["sessions"][:4]) == set()
    assert active(crowd["sessions"][4:]) == set(crowd["sessions"][4:])


def test_a_steady_stream_of_changes_hands_over_to_one_successor_job(crowd, committed, queue, monkeypatch):
    """Changes keep arriving while the job works: after its rounds it queues one successor (so other jobs get a
    turn) instead of running forever, and the successor takes the rest."""
    from monitoring import sessions

    who = caller(crowd["portal"])
    real = sessions.recheck_sessions
    late = iter(crowd["people"][1:7])

    def recheck_while_changes_arrive(*args, **kwargs):
        person = next(late, None)
        if person is not None:
            committed(subscribers.unsubscribe, person, crowd["basic"], caller=who)
        return real(*args, **kwargs)

    monkeypatch.setattr(sessions, "recheck_sessions", recheck_while_changes_arrive)
    committed(subscribers.unsubscribe, crowd["people"][0], crowd["basic"], caller=who)
    first = queue()
    assert len(rechecks(first)) == 1
    run(first)
    assert access_events.RECHECK_ROUNDS < 7  # so the first job cannot have taken all seven changes
    successor = queue()
    assert rechecks(successor) == [{"portal_id": crowd["portal"].id}]
    run(successor)
    assert rechecks(queue()) == []
    assert active(crowd["sessions"][:7]) == set()
    assert active(crowd["sessions"][7:]) == set(crowd["sessions"][7:])


def test_a_job_lost_with_its_worker_is_queued_again_by_the_safety_net(crowd, committed, queue, time_machine):
    import datetime as dt

    from django.utils import timezone

    from catena_site.tasks import drain_pending_invalidations

    committed(subscribers.unsubscribe, crowd["people"][0], crowd["basic"], caller=caller(crowd["portal"]))
    assert len(rechecks(queue())) == 1  # taken, never run: the worker died with it
    access_events.cache().delete(access_events.recheck_flag_key(crowd["portal"].id))  # its flag expired
    drain_pending_invalidations()
    assert rechecks(queue()) == []  # a change only just made may still have its job coming
    time_machine.move_to(timezone.now() + dt.timedelta(seconds=61))
    drain_pending_invalidations()
    jobs = queue()
    assert rechecks(jobs) == [{"portal_id": crowd["portal"].id}]
    run(jobs)
    assert active(crowd["sessions"][:1]) == set()


def test_a_job_of_an_older_version_naming_its_scope_still_runs(crowd):
    tasks.recheck_sessions(crowd["portal"].id, subscriber_ids=[crowd["people"][0].id])
    # The scope named no change here, so the session stays: the rule still allows it.
    assert active(crowd["sessions"][:1]) == set(crowd["sessions"][:1])
    from subscribers.models import Subscription

    Subscription.objects.filter(subscriber=crowd["people"][0]).delete()  # as an older writer would have
    access_events.cache().clear()
    tasks.recheck_sessions(crowd["portal"].id, subscriber_ids=[crowd["people"][0].id])
    assert active(crowd["sessions"][:1]) == set()
