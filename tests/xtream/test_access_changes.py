"""Every Xtream answer comes from the access rule and its cache: blocking, expiry, unsubscribing, token and
password resets show on the very next request; wrong passwords are throttled per address (players.md §3)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from subscribers import services as subscribers

from .conftest import api, credentials, live_path


def _warm(player, alice, channel):
    """A player that has listed its streams and played one: the playback facts are cached."""
    assert len(api(player, alice, "get_live_streams").json()) == 4
    assert player.get(live_path(alice, channel)).status_code == 302


def test_blocking_shows_disabled_and_refuses_live_at_once(player, world, committed):
    alice, news = world["alice"], world["channels"]["news"]
    _warm(player, alice, news)
    committed(subscribers.set_disabled, alice, True, caller=world["caller"])
    info = api(player, alice).json()["user_info"]
    assert (info["auth"], info["status"]) == (1, "Disabled")
    assert api(player, alice, "get_live_streams").json() == []
    refused = player.get(live_path(alice, news))
    assert refused.status_code == 403 and refused.json()["message"] == "This subscriber is blocked."
    committed(subscribers.set_disabled, alice, False, caller=world["caller"])
    assert api(player, alice).json()["user_info"]["status"] == "Active"
    assert player.get(live_path(alice, news)).status_code == 302


def test_an_expired_subscription_shows_expired_and_refuses_live(player, world, committed):
    alice, news = world["alice"], world["channels"]["news"]
    _warm(player, alice, news)
    now = timezone.now()
    committed(subscribers.update_subscription_period, alice, world["basic"],
              {"starts_at": now - dt.timedelta(days=30), "expires_at": now - dt.timedelta(minutes=1)},
              caller=world["caller"])
    info = api(player, alice).json()["user_info"]
    assert (info["status"], info["exp_date"]) == ("Expired", None)
    assert api(player, alice, "get_live_streams").json() == []
    refused = player.get(live_path(alice, news))
    assert refused.status_code == 403 and refused.json()["message"] == "The subscription to this channel has expired."


def test_unsubscribing_removes_the_channels_at_once(player, world, committed):
    alice, news = world["alice"], world["channels"]["news"]
    _warm(player, alice, news)
    committed(subscribers.unsubscribe, alice, world["basic"], caller=world["caller"])
    assert api(player, alice, "get_live_streams").json() == []
    assert api(player, alice, "get_live_categories").json() == []
    assert player.get(live_path(alice, news)).status_code == 403
    assert api(player, alice, "get_short_epg", stream_id=news.id).status_code == 404
    committed(subscribers.subscribe, alice, world["extra"], caller=world["caller"])
    assert [s["name"] for s in api(player, alice, "get_live_streams").json()] == ["Cartoons"]


def test_a_token_reset_moves_the_redirects_to_the_new_token(player, world, committed):
    alice, news = world["alice"], world["channels"]["news"]
    _warm(player, alice, news)
    old = alice.playback_token
    committed(subscribers.reset_playback_token, alice, caller=world["caller"])
    alice.refresh_from_db()
    location = player.get(live_path(alice, news))["Location"]
    assert location.endswith(f"?token={alice.playback_token}") and old not in location


def test_a_password_change_refuses_the_old_password_at_once(player, world, committed):
    alice, news = world["alice"], world["channels"]["news"]
    _warm(player, alice, news)
    old = credentials(alice)
    committed(subscribers.reset_player_password, alice, caller=world["caller"])
    alice.refresh_from_db()
    assert alice.player_password != old["password"]
    assert player.get("/player_api.php", old).json() == {"user_info": {"auth": 0}}
    assert player.get(f"/live/{old['username']}/{old['password']}/{news.id}.m3u8").status_code == 403
    assert api(player, alice).json()["user_info"]["auth"] == 1


def test_twenty_wrong_passwords_from_one_address_get_it_429_and_only_it(player, world):
    alice = world["alice"]
    wrong = {"username": alice.login, "password": "guess"}
    for _ in range(20):
        answer = player.get("/player_api.php", wrong, REMOTE_ADDR="203.0.113.7")
        assert answer.status_code == 200 and answer.json() == {"user_info": {"auth": 0}}
    for path, query in (("/player_api.php", wrong), ("/player_api.php", credentials(alice)),
                        ("/get.php", credentials(alice)), (live_path(alice, world["channels"]["news"]), {})):
        refused = player.get(path, query, REMOTE_ADDR="203.0.113.7")
        assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1, path
    # Another address, with the right password, is untouched; so is a wrong one from it.
    assert player.get("/player_api.php", credentials(alice), REMOTE_ADDR="198.51.100.9").json()["user_info"]["auth"] == 1
    assert player.get("/player_api.php", wrong, REMOTE_ADDR="198.51.100.9").status_code == 200


def test_right_passwords_are_never_counted(player, world):
    for _ in range(30):
        answer = player.get("/player_api.php", credentials(world["alice"]), REMOTE_ADDR="203.0.113.8")
        assert answer.json()["user_info"]["auth"] == 1


def test_catalog_changes_show_on_the_next_list(player, world):
    from content import services as content

    alice, caller, channels, cats = world["alice"], world["caller"], world["channels"], world["categories"]
    assert [s["name"] for s in api(player, alice, "get_live_streams").json()][:2] == ["World News", "Arena Sport"]
    content.update_channel(channels["news"], caller=caller, data={"title": "Global News", "number": 9})
    content.update_channel(channels["sport"], caller=caller, data={"categories": [cats["news"].public_id]})
    content.update_category(cats["news"], caller=caller, data={"title": "Headlines"})
    streams = api(player, alice, "get_live_streams").json()
    assert [(s["num"], s["name"]) for s in streams] == [(5, "Arena Sport"), (9, "Global News"), (10, "Cinema"),
                                                        (11, "Documentaries")]
    assert streams[0]["category_ids"] == [cats["news"].id]
    assert api(player, alice, "get_live_categories").json() == [
        {"category_id": str(cats["news"].id), "category_name": "Headlines", "parent_id": 0}]
    content.delete_category(cats["news"], caller=caller)
    assert api(player, alice, "get_live_categories").json() == []
    assert api(player, alice, "get_live_streams").json()[0]["category_ids"] == []
