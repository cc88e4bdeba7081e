"""The dashboard tells managers when no Celery worker has reported for a minute (EPG updates and session
cleanup have stopped), and says nothing while one is alive."""

from __future__ import annotations

import datetime as dt

import pytest

from catena_site import heartbeat

from .conftest import PERSONAS, page

BANNER = "Background jobs are not running: EPG updates and session cleanup are stopped."
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def worker_beat_at_now(time_machine):
    time_machine.move_to(NOW, tick=False)
    heartbeat.record(heartbeat.WORKER, "celery@test")


@pytest.mark.parametrize("persona", PERSONAS)
def test_no_banner_while_a_worker_beats(web, persona, worker_beat_at_now, time_machine):
    time_machine.move_to(NOW + dt.timedelta(seconds=30), tick=False)
    html = page(web[persona].get("/"))
    assert BANNER not in html
    assert 'data-testid="background-jobs-stopped"' not in html


@pytest.mark.parametrize("persona", PERSONAS)
def test_red_banner_when_the_worker_is_silent_for_a_minute(web, persona, worker_beat_at_now, time_machine):
    time_machine.move_to(NOW + dt.timedelta(seconds=61), tick=False)
    html = page(web[persona].get("/"))
    assert BANNER in html
    banner = html[html.index('data-testid="background-jobs-stopped"') - 80:html.index(BANNER)]
    assert 'class="alert alert-error"' in banner and 'role="alert"' in banner


def test_red_banner_when_no_worker_ever_beat(web):
    assert BANNER in page(web["viewer"].get("/"))


def test_the_banner_goes_once_the_worker_beats_again(web, worker_beat_at_now, time_machine):
    time_machine.move_to(NOW + dt.timedelta(minutes=5), tick=False)
    assert BANNER in page(web["owner"].get("/"))
    heartbeat.record(heartbeat.WORKER, "celery@restarted")
    assert BANNER not in page(web["owner"].get("/"))
