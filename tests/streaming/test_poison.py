"""Poison values from the streaming server (issue 11: H1, M1, deeply nested events).

A NUL, a control character, a lone surrogate or an oversized number in any value the streamer forwards used
to stop play-session recording for every portal: the buffered write failed every few seconds and never let
go of the item. Each value of the tables below is now either recorded cleaned or refused cleanly, and the good
sessions queued before and after it are all written. A value the database still refuses (one that got past
the edge) goes to the dead-letter list instead of blocking the rest.

A NUL is refused only by PostgreSQL (SQLite stores it): on SQLite those rows check that the stored value is
the cleaned one. Lone surrogates are refused by both databases. The buffers exist only on Redis (``on_redis``
and the ``redis`` variant of ``cache_backend``); without ``REDIS_URL`` those tests are skipped.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import socket
import unicodedata
import uuid
from urllib.parse import urlencode

import pytest
from django.db import connections
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from catena_site.shared_store import store
from monitoring import dead_letters, metrics, sessions
from monitoring.models import PlaySession
from monitoring.streaming import events as streaming_events
from monitoring.streaming.values import MAX_BYTES, MAX_DURATION, clean, is_clean
from portals import services as portals

from .conftest import AUTH, EVENTS, KEY, auth_params, caller, check, reason

T0 = 1_760_000_000
NUL, SURROGATE = "\x00", "\ud800"

# --- The auth check (on_play) ------------------------------------------------------------------------------------
# (query parameters to set, raw query text to append — for bytes a dict cannot carry —, expected answer: None
# for 200 or the refusal's reason, and for an allowed check the fields recorded in the play session)
AUTH_POISON = [
    pytest.param({"qs": "token=x&device_id=%00"}, "", None, {"device_id": None}, id="issue-request-nul-device-id"),
    pytest.param({"qs": "device_id=tv%00-%01-42"}, "", None, {"device_id": "tv--42"}, id="device-id-with-controls"),
    pytest.param({"qs": "device_id=" + "d" * 300}, "", None, {"device_id": "d" * 200}, id="device-id-too-long"),
    pytest.param({"user_agent": "VLC" + NUL + "/3.0"}, "", None, {"user_agent": "VLC/3.0"}, id="nul-user-agent"),
    pytest.param({"user_agent": "VLC\r\n\t\x7f\x85/3"}, "", None, {"user_agent": "VLC/3"}, id="controls-user-agent"),
    pytest.param({}, "user_agent=VLC%ED%A0%80", None, {"user_agent": "VLC\ufffd\ufffd\ufffd"},
                 id="encoded-surrogate-user-agent"),
    pytest.param({"user_agent": "A" * 5000}, "", None, {"user_agent": "A" * 500}, id="user-agent-too-long"),
    pytest.param({"ip": "198.51.100.1" + NUL}, "", None, {"ip": "198.51.100.1"}, id="nul-ip"),
    pytest.param({"ip": "1" * 100}, "", None, {"ip": "1" * 45}, id="ip-too-long"),
    pytest.param({"proto": "hls" + NUL}, "", None, {"proto": "hls"}, id="nul-proto"),
    pytest.param({"session_id": "poison" + NUL + "-1"}, "", None, {"streamer_session_id": "poison-1"},
                 id="nul-session-id"),
    pytest.param({"duration": str(2**40)}, "", None, {"duration": MAX_DURATION}, id="duration-beyond-integer"),
    pytest.param({"bytes": str(2**62)}, "", None, {"bytes": MAX_BYTES}, id="bytes-beyond-exact"),
    pytest.param({"token": NUL}, "", "unknown_token", None, id="nul-token"),
    pytest.param({"token": "TOKEN" + NUL}, "", "unknown_token", None, id="real-token-and-nul"),
    pytest.param({"token": None}, "token=%ED%A0%80", "unknown_token", None, id="encoded-surrogate-token"),
    pytest.param({"token": "TOKEN\x1b"}, "", "unknown_token", None, id="real-token-and-escape"),
    pytest.param({"name": "news" + NUL}, "", "unknown_stream", None, id="nul-name"),
]


def poisoned_check(client, token, params, raw):
    values = auth_params(token, "news", session_id="poison-1")
    for name, value in params.items():
        if value is None:
            values.pop(name, None)
        else:
            values[name] = value.replace("TOKEN", token)
    return client.get(AUTH + "?" + urlencode(values) + ("&" + raw if raw else ""))


@pytest.mark.parametrize(("params", "raw", "refusal", "recorded"), AUTH_POISON)
def test_a_poison_value_in_the_auth_check_is_recorded_cleaned_or_refused_and_blocks_nothing(
        client, world, cache_backend, params, raw, refusal, recorded):
    token = world["alice"].playback_token
    assert check(client, token, "news", session_id="good-before").status_code == 200
    response = poisoned_check(client, token, params, raw)
    assert check(client, token, "news", session_id="good-after").status_code == 200
    sessions.write_opened_sessions()  # the buffer on Redis; nothing to do on the file-based cache
    if refusal is None:
        assert response.status_code == 200
    else:
        assert response.status_code == 403 and reason(response) == refusal
    stored = {s.streamer_session_id: s for s in PlaySession.objects.all()}
    assert {"good-before", "good-after"} <= set(stored)
    if recorded is None:
        assert set(stored) == {"good-before", "good-after"}
    else:
        poisoned = stored[recorded.get("streamer_session_id", "poison-1")]
        assert {name: getattr(poisoned, name) for name in recorded} == recorded
        assert poisoned.subscriber_id == world["alice"].id and poisoned.active
    assert dead_letters.entries() == []
    if cache_backend == "redis":
        assert store().list_length(sessions.OPENING) == 0
    sessions.flush_heartbeats()  # the poisoned session's heartbeat is written like any other


@pytest.mark.parametrize(("params", "recorded"), [
    ({"qs": "token=x&device_id=%00"}, {"device_id": None}),
    ({"qs": "device_id=tv%00"}, {"device_id": "tv"}),
    ({"user_agent": NUL + "Kodi"}, {"user_agent": "Kodi"}),
    ({"ip": NUL}, {"ip": ""}),
    ({"duration": str(2**40)}, {"duration": MAX_DURATION}),
])
def test_with_a_session_limit_a_poison_value_is_recorded_cleaned_not_answered_503(client, world, committed,
                                                                                  params, recorded):
    """With a limit the start is written at once (counted under a lock), on every cache."""
    committed(portals.update_portal, world["portal"], caller=caller(world["portal"]),
              data={"settings": {"maxSessionsPerSubscriber": 2}})
    response = poisoned_check(client, world["alice"].playback_token, params, "")
    assert response.status_code == 200 and response["X-Max-Sessions"] == "2"
    session = PlaySession.objects.get()
    assert {name: getattr(session, name) for name in recorded} == recorded


# --- M1: bad input is a refusal, only an outage is 503 --------------------------------------------------------------


@pytest.mark.parametrize("token", [NUL, "%00", "abc" + NUL + "def", "\x01" * 10])
def test_a_token_with_a_nul_is_403_unknown_token_not_503(client, world, token):
    response = client.get(AUTH, auth_params(token, "news"))
    assert response.status_code == 403
    assert response.json() == {"errors": [{"status": "403", "code": "unknown_token",
                                           "title": "The playback token is unknown."}]}
    assert not PlaySession.objects.exists()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when this returns: nothing listens there


def test_a_database_that_really_is_unreachable_answers_503(client, world):
    """No mock: the default connection is pointed at a closed port (PostgreSQL) or an impossible path (SQLite)."""
    live = connections["default"]
    broken = copy.deepcopy(live.settings_dict)
    if live.vendor == "postgresql":
        broken.update(HOST="127.0.0.1", PORT=str(_closed_port()))
    else:
        broken["NAME"] = "/nonexistent-catena-dir/catena.sqlite3"
    unreachable = type(live)(broken, alias="default")
    connections["default"] = unreachable
    try:
        response = check(client, world["alice"].playback_token, "news")
    finally:
        connections["default"] = live
        unreachable.close()
    assert response.status_code == 503
    assert response.json()["errors"][0] == {"status": "503", "code": "unavailable",
                                            "title": "The authorization database is unreachable; try again."}
    assert check(client, world["alice"].playback_token, "news").status_code == 200  # and back


# --- The event sink --------------------------------------------------------------------------------------------------


def event(world, kind="play_opened", session_id="s-1", **fields):
    body = {"event": kind, "id": session_id, "media": "news", "token": world["alice"].playback_token,
            "ip": "198.51.100.7", "user_agent": "VLC/3.0.16", "proto": "hls", "bytes": 0, "opened_at": T0,
            "updated_at": T0, "country": "NL"}
    body.update(fields)
    return body


# (fields of the poisoned event, the fields recorded — None: not recorded — and the counter it is counted in)
EVENT_POISON = [
    pytest.param({"user_agent": "VLC" + NUL}, {"user_agent": "VLC"}, None, id="nul-user-agent"),
    pytest.param({"user_agent": "VLC" + SURROGATE}, {"user_agent": "VLC"}, None, id="surrogate-user-agent"),
    pytest.param({"user_agent": "\udfff" + "A" * 600}, {"user_agent": "A" * 500}, None, id="long-user-agent"),
    pytest.param({"ip": NUL + "203.0.113.5"}, {"ip": "203.0.113.5"}, None, id="nul-ip"),
    pytest.param({"ip": SURROGATE}, {"ip": ""}, None, id="surrogate-only-ip"),
    pytest.param({"proto": "hls" + SURROGATE}, {"proto": "hls"}, None, id="surrogate-proto"),
    pytest.param({"country": "N" + NUL + "L"}, {"country": "NL"}, None, id="nul-country"),
    pytest.param({"id": "s-2" + NUL}, {"streamer_session_id": "s-2"}, None, id="nul-session-id"),
    pytest.param({"id": "s-2" + SURROGATE}, {"streamer_session_id": "s-2"}, None, id="surrogate-session-id"),
    pytest.param({"qs": "token=x&device_id=%00"}, {"device_id": None}, None, id="nul-device-id"),
    pytest.param({"qs": "device_id=tv" + SURROGATE}, {"device_id": "tv"}, None, id="surrogate-device-id"),
    pytest.param({"duration": 2**40}, {"duration": MAX_DURATION}, None, id="duration-beyond-integer"),
    pytest.param({"bytes": 2**62}, {"bytes": MAX_BYTES}, None, id="bytes-beyond-exact"),
    pytest.param({"token": NUL}, None, "events_unknown_token", id="nul-token"),
    pytest.param({"token": "TOKEN" + SURROGATE}, None, "events_unknown_token", id="surrogate-token"),
    pytest.param({"media": "news" + NUL}, None, "events_unknown_stream", id="nul-media"),
    pytest.param({"media": SURROGATE}, None, "events_unknown_stream", id="surrogate-media"),
]


@pytest.mark.parametrize(("fields", "recorded", "counter"), EVENT_POISON)
def test_a_poison_value_in_an_event_is_recorded_cleaned_or_skipped_and_the_batch_applied(
        client, world, cache_backend, fields, recorded, counter):
    token = world["alice"].playback_token
    fields = {k: v.replace("TOKEN", token) if isinstance(v, str) else v for k, v in fields.items()}
    batch = [event(world, session_id="s-1"), event(world, session_id="s-2", **fields), event(world, session_id="s-3")]
    response = client.post(f"{EVENTS}?key={KEY}", json.dumps(batch), content_type="application/json")
    assert response.status_code == 204  # on Redis the eager drain has applied the buffer too
    stored = {s.streamer_session_id: s for s in PlaySession.objects.all()}
    assert {"s-1", "s-3"} <= set(stored)
    if recorded is None:
        assert set(stored) == {"s-1", "s-3"}
        assert metrics.counters()[counter] == 1
    else:
        poisoned = stored[recorded.get("streamer_session_id", "s-2")]
        assert {name: getattr(poisoned, name) for name in recorded} == recorded
    assert dead_letters.entries() == []


@pytest.mark.parametrize("depth", [10_000, 100_000])
def test_json_nested_deeper_than_the_parser_goes_is_400_and_nothing_is_applied(client, world, depth):
    nested = "[" * depth + "]" * depth
    body = json.dumps([event(world, session_id="s-1")])[:-1] + ", " + nested + "]"
    response = client.post(f"{EVENTS}?key={KEY}", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "bad_json"
    inside = json.dumps(event(world, session_id="s-2"))[:-1] + ', "extra": ' + nested + "}"
    assert client.post(f"{EVENTS}?key={KEY}", "[" + inside + "]",
                       content_type="application/json").status_code == 400
    assert not PlaySession.objects.exists()


# --- The buffers drain item by item: a refused item goes to the dead-letter list -----------------------------------


def _opened_item(world, session_id, user_agent):
    """A buffered session start as ``sessions.open_session`` queues it (the shape ``_write_opened`` reads)."""
    return (session_id, world["portal"].id, world["alice"].id, world["news"].id, "news", world["alice"].playback_token,
            dt.datetime.now(dt.UTC).timestamp(), "192.0.2.1", user_agent, None, "hls", False, 0, None)


@pytest.mark.parametrize("poison", [SURROGATE, NUL])
def test_a_buffered_start_the_database_refuses_is_set_aside_and_the_others_are_written(client, world, on_redis,
                                                                                      poison):
    from django.db import connection

    if poison == NUL and connection.vendor != "postgresql":
        pytest.skip("only PostgreSQL refuses a NUL")
    token = world["alice"].playback_token
    check(client, token, "news", session_id="good-before")
    # A start that got past the edge (say, queued by an older version): the database refuses its user agent.
    store().push(sessions.OPENING, _opened_item(world, "poisoned", "VLC" + poison))
    check(client, token, "news", session_id="good-after")
    assert sessions.write_opened_sessions() == 3
    assert set(PlaySession.objects.values_list("streamer_session_id", flat=True)) == {"good-before", "good-after"}
    assert store().list_length(sessions.OPENING) == 0
    [letter] = dead_letters.entries()
    assert letter["buffer"] == sessions.OPENING and letter["item"][0] == "poisoned"
    assert letter["reason"].startswith("UnicodeEncodeError" if poison == SURROGATE else "DataError")
    assert metrics.counters(["dead_letters"]) == {"dead_letters": 1}
    check(client, token, "news", session_id="later")
    assert sessions.write_opened_sessions() == 1  # the buffer keeps flowing
    assert PlaySession.objects.filter(streamer_session_id="later").exists()


def test_a_heartbeat_the_database_refuses_is_set_aside_and_the_others_are_written(client, world, cache_backend):
    token = world["alice"].playback_token
    for session_id in ("beat-1", "beat-2", "beat-3"):
        check(client, token, "news", session_id=session_id)
    sessions.write_opened_sessions()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    sessions.remember("beat-1", world["alice"].id, world["news"].id, later, 1000, 30)
    # A cached heartbeat no column holds (cached by an older version, or by another writer of the store).
    sessions.remember("beat-2", world["alice"].id, world["news"].id, later, 2**64, 30)
    sessions.remember("beat-3", world["alice"].id, world["news"].id, later, 3000, 30)
    assert sessions.flush_heartbeats() == 2
    rows = dict(PlaySession.objects.values_list("streamer_session_id", "bytes"))
    assert rows == {"beat-1": 1000, "beat-2": 0, "beat-3": 3000}
    [letter] = dead_letters.entries()
    assert letter["buffer"] == sessions.HEARTBEATS and letter["item"][1] == "beat-2"
    assert sessions.cached_heartbeats(["beat-2"]) == {}  # dropped: it cannot come back every flush
    assert sessions.flush_heartbeats() == 0


def test_a_buffered_item_that_is_no_batch_is_set_aside_and_the_batches_around_it_applied(client, world, on_redis):
    from catena_site.celery import app

    app.conf.task_always_eager = False  # no drain now: the batches wait in the buffer
    def post(batch):
        assert client.post(f"{EVENTS}?key={KEY}", json.dumps(batch), content_type="application/json").status_code == 204

    post([event(world, session_id="e-1")])
    store().push(streaming_events.EVENTS_BUFFER, (T0, b'[{"event": "play_opened", "id": '))  # cut short
    post([event(world, session_id="e-2")])
    assert streaming_events.apply_buffered_events() == 2
    assert set(PlaySession.objects.values_list("streamer_session_id", flat=True)) == {"e-1", "e-2"}
    assert store().list_length(streaming_events.EVENTS_BUFFER) == 0
    [letter] = dead_letters.entries()
    assert letter["buffer"] == streaming_events.EVENTS_BUFFER and letter["reason"].startswith("JSONDecodeError")


def test_an_event_the_database_refuses_is_set_aside_and_the_others_are_applied(world):
    received = dt.datetime.now(dt.UTC)
    good = [streaming_events.parse_event(event(world, session_id=s), received) for s in ("a-1", "a-3")]
    poisoned = streaming_events.parse_event(event(world, session_id="a-2"), received)
    poisoned.user_agent = "VLC" + SURROGATE  # an event that got past the edge: no database encodes it
    result = streaming_events.apply_each([good[0], poisoned, good[1]], received)
    assert result.applied == 2
    assert set(PlaySession.objects.values_list("streamer_session_id", flat=True)) == {"a-1", "a-3"}
    [letter] = dead_letters.entries()
    assert letter["buffer"] == streaming_events.EVENTS_BUFFER and letter["item"]["session_id"] == "a-2"
    assert letter["reason"].startswith("UnicodeEncodeError")
    assert metrics.counters(["dead_letters"]) == {"dead_letters": 1}


def test_dead_letters_keep_only_the_newest(world, cache_backend, monkeypatch):
    monkeypatch.setattr(dead_letters, "KEEP", 3)
    for number in range(5):
        dead_letters.record("pb:test", ("item", number), ValueError(f"bad {number}"))
    assert [letter["item"][1] for letter in dead_letters.entries()] == [2, 3, 4]
    assert [letter["reason"] for letter in dead_letters.entries()] == ["ValueError: bad 2", "ValueError: bad 3",
                                                                       "ValueError: bad 4"]
    dead_letters.clear()
    assert dead_letters.entries() == []


def test_uuid_session_ids_are_untouched(client, world):
    session_id = str(uuid.uuid4())
    assert check(client, world["alice"].playback_token, "news", session_id=session_id).status_code == 200
    assert PlaySession.objects.get().streamer_session_id == session_id


def test_the_operator_lists_and_clears_dead_letters_with_a_command(world, cache_backend):
    from io import StringIO

    from django.core.management import call_command

    dead_letters.record(sessions.OPENING, ("poisoned", "VLC" + SURROGATE), UnicodeEncodeError(
        "utf-8", "VLC" + SURROGATE, 3, 4, "surrogates not allowed"))
    out, err = StringIO(), StringIO()
    call_command("streaming_dead_letters", "--clear", stdout=out, stderr=err)
    [line] = [json.loads(text) for text in out.getvalue().splitlines()]
    assert (line["buffer"], line["item"]) == ("pb:opening", "('poisoned', 'VLC\\ud800')")
    assert line["reason"].startswith("UnicodeEncodeError: 'utf-8' codec can't encode character '\\ud800'")
    assert "1 dead letter(s), cleared" in err.getvalue()
    assert dead_letters.entries() == []


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.text(st.characters(exclude_categories=())), st.integers(min_value=0, max_value=600))
def test_a_cleaned_value_is_storable_and_cleaning_it_again_changes_nothing(value, limit):
    cleaned = clean(value, limit)
    cleaned.encode("utf-8")  # no lone surrogate: every database encodes it
    assert len(cleaned) <= limit
    assert not any(unicodedata.category(character) in ("Cc", "Cs") for character in cleaned)
    assert clean(cleaned, limit) == cleaned and is_clean(cleaned, limit)
    assert is_clean(value, limit) == (cleaned == value)
