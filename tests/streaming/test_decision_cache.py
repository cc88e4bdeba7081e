"""The decision cache is never stale: after each change the next check sees the new truth.

Each test warms the cache with a first check, makes the change through its service function (committed,
so the after-commit invalidation runs), and checks again. Run on the file-based cache and, when REDIS_URL
answers, on Redis.
"""

from __future__ import annotations

import pytest

from catena_site import shared_store
from content import services as content
from portals import services as portals
from subscribers import playback_cache
from subscribers import services as subscribers

from .conftest import caller, check, make_channel, make_package, make_subscriber, reason


@pytest.fixture
def warm(client, world, cache_backend):
    """Check ``alice`` on every channel once, so the answers come from the cache afterwards."""
    for name in ("news", "sport", "kids", "nosuch"):
        check(client, world["alice"].playback_token, name)
    return world


def who(world):
    return caller(world["portal"])


def test_subscribe_allows_at_once(client, warm, committed):
    assert reason(check(client, warm["alice"].playback_token, "sport")) == "not_in_packages"
    committed(subscribers.subscribe, warm["alice"], warm["premium"], caller=who(warm))
    assert check(client, warm["alice"].playback_token, "sport").status_code == 200


def test_unsubscribe_refuses_at_once(client, warm, committed):
    committed(subscribers.unsubscribe, warm["alice"], warm["basic"], caller=who(warm))
    assert reason(check(client, warm["alice"].playback_token, "news")) == "not_in_packages"


def test_disable_and_enable(client, warm, committed):
    committed(subscribers.set_disabled, warm["alice"], True, caller=who(warm))
    assert reason(check(client, warm["alice"].playback_token, "news")) == "subscriber_disabled"
    committed(subscribers.set_disabled, warm["alice"], False, caller=who(warm))
    assert check(client, warm["alice"].playback_token, "news").status_code == 200


def test_token_reset_makes_the_old_token_unknown(client, warm, committed):
    old = warm["alice"].playback_token
    fresh = committed(subscribers.reset_playback_token, warm["alice"], caller=who(warm)).playback_token
    assert reason(check(client, old, "news")) == "unknown_token"
    assert check(client, fresh, "news").status_code == 200


def test_deleting_the_subscriber_makes_the_token_unknown(client, warm, committed):
    committed(subscribers.delete_subscriber, warm["alice"], caller=who(warm))
    assert reason(check(client, warm["alice"].playback_token, "news")) == "unknown_token"


def test_a_package_made_free_is_allowed_for_everyone(client, warm, committed):
    bob = make_subscriber(warm["portal"], "Bob")
    assert reason(check(client, bob.playback_token, "sport")) == "not_in_packages"
    committed(content.add_free_package, warm["premium"], caller=who(warm))
    assert check(client, warm["alice"].playback_token, "sport").status_code == 200
    assert check(client, bob.playback_token, "sport").status_code == 200
    committed(content.remove_free_package, warm["premium"], caller=who(warm))
    assert reason(check(client, bob.playback_token, "sport")) == "not_in_packages"


def test_a_channel_removed_from_the_package_is_refused(client, warm, committed):
    committed(content.remove_channel_from_package, warm["basic"], warm["news"], caller=who(warm))
    assert reason(check(client, warm["alice"].playback_token, "news")) == "not_in_packages"


def test_a_channel_added_to_the_package_is_allowed(client, warm, committed):
    committed(content.add_channel_to_package, warm["basic"], warm["kids"], caller=who(warm))
    assert check(client, warm["alice"].playback_token, "kids").status_code == 200


def test_a_deleted_channel_is_an_unknown_stream(client, warm, committed):
    committed(content.delete_channel, warm["news"], caller=who(warm))
    assert reason(check(client, warm["alice"].playback_token, "news")) == "unknown_stream"


def test_a_created_channel_is_known_at_once(client, warm, committed):
    assert reason(check(client, warm["alice"].playback_token, "nosuch")) == "unknown_stream"
    committed(make_channel, warm["portal"], "nosuch")
    assert reason(check(client, warm["alice"].playback_token, "nosuch")) == "not_in_packages"


def test_a_deleted_package_takes_its_channels_away(client, warm, committed):
    committed(content.delete_package, warm["basic"], caller=who(warm), force=True)
    assert reason(check(client, warm["alice"].playback_token, "news")) == "not_in_packages"


def test_a_portal_setting_change_reaches_the_headers(client, warm, committed):
    token = warm["alice"].playback_token
    assert "X-Max-Sessions" not in check(client, token, "news", request_type="update_session")
    committed(portals.update_portal, warm["portal"], caller=who(warm), data={"settings": {"maxSessionsPerSubscriber": 2}})
    assert check(client, token, "news", request_type="update_session")["X-Max-Sessions"] == "2"


def test_other_subscribers_keep_their_cached_answers(client, warm, committed, django_assert_num_queries):
    bob = make_subscriber(warm["portal"], "Bob", [warm["premium"]])
    check(client, bob.playback_token, "sport", session_id="bob-1", request_type="update_session")
    committed(subscribers.unsubscribe, warm["alice"], warm["basic"], caller=who(warm))
    with django_assert_num_queries(0):  # exact invalidation: Bob's entry is still valid
        assert check(client, bob.playback_token, "sport", session_id="bob-1",
                     request_type="update_session").status_code == 200


def test_a_rolled_back_change_invalidates_nothing_and_changes_nothing(client, warm, django_assert_num_queries):
    from django.db import transaction

    check(client, warm["alice"].playback_token, "news", session_id="alice-1")
    with pytest.raises(RuntimeError), transaction.atomic():
        subscribers.unsubscribe(warm["alice"], warm["basic"], caller=who(warm))
        raise RuntimeError("rolled back")
    assert warm["alice"].subscriptions.filter(package=warm["basic"]).exists()
    with django_assert_num_queries(0):
        assert check(client, warm["alice"].playback_token, "news", session_id="alice-1",
                     request_type="update_session").status_code == 200


def test_a_change_committed_while_an_entry_is_computed_never_leaves_it_stale(client, world, cache_backend,
                                                                              committed, monkeypatch):
    """The race of a cache miss: the change commits after the facts were read but before they are stored."""
    from subscribers import access

    real = access.watchable_channel_names
    state = {"done": False}

    def unsubscribe_meanwhile(subscriber, now=None):
        result = real(subscriber, now)  # the old truth: news is watchable
        if not state["done"]:
            state["done"] = True
            committed(subscribers.unsubscribe, world["alice"], world["basic"], caller=who(world))
        return result

    monkeypatch.setattr(access, "watchable_channel_names", unsubscribe_meanwhile)
    first = check(client, world["alice"].playback_token, "news", request_type="update_session")
    assert first.status_code == 200  # answered with what it read
    monkeypatch.setattr(access, "watchable_channel_names", real)
    assert reason(check(client, world["alice"].playback_token, "news", request_type="update_session")) == \
        "not_in_packages"


def test_the_cache_is_shared_not_per_process(world, cache_backend, settings):
    backend = settings.CACHES["default"]["BACKEND"]
    assert "LocMem" not in backend and "Dummy" not in backend
    facts = playback_cache.lookup(world["alice"].playback_token)
    assert facts.channels == {"news": world["news"].id}


def test_a_failing_cache_falls_back_to_the_database(client, world, monkeypatch, caplog):
    from catena_site import access_events

    class Broken:
        def __getattr__(self, name):
            def fail(*args, **kwargs):
                raise OSError("cache down")
            return fail

    monkeypatch.setattr(access_events, "cache", lambda: Broken())
    monkeypatch.setattr(shared_store, "_store", None)  # built again, on the broken cache
    with caplog.at_level("WARNING", logger="subscribers.playback_cache"):
        assert check(client, world["alice"].playback_token, "news").status_code == 200
        assert reason(check(client, world["alice"].playback_token, "sport")) == "not_in_packages"
    assert "playback cache unavailable (cache down); deciding from the database" in caplog.text


def test_a_lost_script_or_connection_costs_no_answer(client, world, on_redis, django_assert_num_queries):
    """Redis restarted (scripts gone) or the connection dropped: the next check reconnects, reloads, answers."""
    token = world["alice"].playback_token
    assert check(client, token, "news", session_id="a-1").status_code == 200  # warm
    assert reason(check(client, token, "sport", session_id="a-2")) == "not_in_packages"
    cache = shared_store.store()
    cache.client.script_flush()
    with django_assert_num_queries(0):
        assert check(client, token, "news", session_id="a-1", request_type="update_session").status_code == 200
    connection = cache._connection
    connection.send_command("CLIENT", "ID")
    cache.client.client_kill_filter(_id=connection.read_response())
    with django_assert_num_queries(0):
        assert reason(check(client, token, "sport", session_id="a-2")) == "not_in_packages"
        assert check(client, token, "news", session_id="a-1", request_type="update_session").status_code == 200
    assert cache._connection is not connection  # a new one


def test_a_forked_process_never_shares_the_connection(world, on_redis):
    import os

    parent = shared_store.store()
    parent.get_many(["warm-up"])
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a store of its own, and it works
        try:
            child = shared_store.store()
            ok = child is not parent and playback_cache.check_entry(child, "pb:e:none", "news", None) == (None, None)
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"
    assert shared_store.store() is parent


def test_unknown_token_answers_are_not_kept_for_new_tokens(client, world, committed):
    # Simulate the impossible-in-practice case: a token looked up while unknown, then issued.
    from subscribers.models import Subscriber

    assert reason(check(client, "reused-token-value", "news")) == "unknown_token"
    bob = make_subscriber(world["portal"], "Bob", [world["basic"]])

    def give_token():
        Subscriber.objects.filter(pk=bob.pk).update(playback_token="reused-token-value")
        from catena_site import access_events

        access_events.token_changed("reused-token-value")

    from django.db import transaction

    committed(transaction.atomic()(give_token))
    assert check(client, "reused-token-value", "news").status_code == 200


def test_a_channel_in_two_packages_stays_allowed_until_the_last_one_goes(client, warm, committed):
    """Invalidation recomputes the whole truth: losing one of two packages that carry a channel keeps it."""
    token = warm["alice"].playback_token
    extra = make_package(warm["portal"], "extra", [warm["news"]])
    committed(subscribers.subscribe, warm["alice"], extra, caller=who(warm))
    assert check(client, token, "news").status_code == 200
    committed(subscribers.unsubscribe, warm["alice"], warm["basic"], caller=who(warm))
    assert check(client, token, "news").status_code == 200  # still carried by "extra"
    committed(content.remove_channel_from_package, extra, warm["news"], caller=who(warm))
    assert reason(check(client, token, "news")) == "not_in_packages"
