"""The Flussonic simulator plays the whole loop in-process; the command wires it to a portal; beat entries."""

from __future__ import annotations

from django.core.management import call_command

from catena_site.celery import app
from monitoring import sessions
from monitoring.models import PlaySession
from monitoring.streaming.simulator import ClientTransport, StreamerSimulator

from .conftest import KEY, make_subscriber


def test_simulated_viewers_open_update_switch_and_close_sessions(client, world):
    bob = make_subscriber(world["portal"], "Bob", [world["basic"], world["premium"]])
    viewers = [(world["alice"].playback_token, ["news"]), (bob.playback_token, ["news", "sport"]),
               ("not-a-token", ["news"]), (world["alice"].playback_token, ["sport"])]
    simulator = StreamerSimulator(ClientTransport(client), KEY, viewers, seed=3, duplicate_rate=0.3, late_rate=0.3,
                                  switch_rate=0.3, batch_size=7)
    stats = simulator.run(ticks=6)
    assert stats.auth["200"] > 0 and stats.auth["unknown_token"] > 0 and stats.auth["not_in_packages"] > 0
    assert set(stats.batches) == {"204"} and stats.duplicates > 0 and stats.late > 0
    sessions.flush_heartbeats()
    played = PlaySession.objects.all()
    assert played.count() >= 3
    assert not played.filter(active=True).exists()  # every viewer stopped, and the close events arrived
    assert all(s.closed_at >= s.opened_at and s.device_id for s in played)
    assert set(played.values_list("subscriber_id", flat=True)) == {world["alice"].id, bob.id}


def test_the_command_plays_a_portals_subscribers_in_process(world, capsys, settings):
    call_command("simulate_streamer", "--portal", world["portal"].name, "--viewers", "3", "--ticks", "2",
                 "--interval", "0", "--in-process")
    out = capsys.readouterr().out
    assert "auth answers" in out and "'200'" in out
    assert PlaySession.objects.filter(subscriber_id=world["alice"].id).exists()


def test_the_periodic_jobs_are_scheduled_under_stable_names():
    import monitoring.tasks  # noqa: F401

    beat = app.conf.beat_schedule
    expected = {"monitoring.apply-buffered-events": "monitoring.tasks.apply_buffered_events",
                "monitoring.write-opened-sessions": "monitoring.tasks.write_opened_sessions",
                "monitoring.flush-session-heartbeats": "monitoring.tasks.flush_session_heartbeats",
                "monitoring.close-stale-sessions": "monitoring.tasks.close_stale_sessions",
                "monitoring.reconcile-streamer-sessions": "monitoring.tasks.reconcile_streamer_sessions"}
    for name, task in expected.items():
        assert beat[name]["task"] == task and task in app.tasks
