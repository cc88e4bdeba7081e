"""Location restrictions (catalog.md §2, issue 14 item 3): the auth check refuses a restricted channel with
``location_restricted`` when the viewer's ``ip`` is in none of its locations' networks and its ``country`` in none
of their countries; decided from the cached facts, invalidated exactly, and sessions the change refuses are closed.
"""

from __future__ import annotations

import uuid

import pytest

from catena_site.errors import Invalid
from content import restrictions
from content import services as content
from monitoring import sessions
from monitoring.models import PlaySession

from .conftest import caller, check, make_channel, make_package, make_subscriber, reason

HOME_IP, AWAY_IP = "192.0.2.10", "198.51.100.7"


def make_location(portal, name="home", countries=("FI",), networks=("192.0.2.0/24", "2001:db8::/32")):
    return content.create_location(portal, caller=caller(portal),
                                   data={"name": name, "title": name.title(), "countries": list(countries),
                                         "networks": list(networks)})


def restrict(channel, *locations):
    return content.update_channel(channel, caller=caller(channel.portal),
                                  data={"locationRestrictions": [loc.public_id for loc in locations]})


@pytest.fixture
def restricted(world):
    """``news`` (alice's, in ``basic``) restricted to ``home`` (FI, 192.0.2.0/24, 2001:db8::/32); ``sport`` free
    of restrictions and in alice's packages too."""
    world["home"] = make_location(world["portal"])
    restrict(world["news"], world["home"])
    content.add_channel_to_package(world["basic"], world["sport"], caller=caller(world["portal"]))
    return world


def verdict(client, world, name="news", **params):
    return reason(check(client, world["alice"].playback_token, name, **params))


# --- The rule ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ip", [HOME_IP, "192.0.2.255", "2001:db8::1", "2001:db8:ffff::42", "::ffff:192.0.2.10"])
def test_an_address_in_one_of_the_networks_plays(client, restricted, ip):
    assert check(client, restricted["alice"].playback_token, "news", ip=ip).status_code == 200


@pytest.mark.parametrize("ip", [AWAY_IP, "192.0.3.0", "2001:db9::1", "::ffff:198.51.100.7", "not-an-address", ""])
def test_an_address_outside_every_network_is_refused(client, restricted, ip):
    response = check(client, restricted["alice"].playback_token, "news", ip=ip)
    assert response.status_code == 403
    assert response.json() == {"errors": [{
        "status": "403", "code": "location_restricted",
        "title": "The channel may only be watched from certain places, and this viewer is in none of them."}]}


def test_a_country_of_the_location_plays_from_any_address(client, restricted):
    assert verdict(client, restricted, ip=AWAY_IP, country="FI") is None
    assert verdict(client, restricted, ip=AWAY_IP, country="fi") is None
    assert verdict(client, restricted, ip=None, country="FI") is None
    assert verdict(client, restricted, ip=AWAY_IP, country="SE") == "location_restricted"


def test_neither_address_nor_country_given_is_refused(client, restricted):
    assert verdict(client, restricted, ip=None) == "location_restricted"
    assert verdict(client, restricted, ip=None, country="") == "location_restricted"


def test_an_unrestricted_channel_plays_from_anywhere(client, restricted):
    assert verdict(client, restricted, "sport", ip=AWAY_IP) is None
    assert verdict(client, restricted, "sport", ip=None) is None


def test_any_of_several_locations_lets_a_viewer_in(client, restricted):
    office = make_location(restricted["portal"], "office", countries=(), networks=("203.0.113.0/25",))
    restrict(restricted["news"], restricted["home"], office)
    assert verdict(client, restricted, ip="203.0.113.5") is None
    assert verdict(client, restricted, ip=HOME_IP) is None
    assert verdict(client, restricted, ip="203.0.113.200") == "location_restricted"


def test_the_reasons_keep_their_order(client, restricted, settings):
    from portals import services as portals

    bob = make_subscriber(restricted["portal"], "Bob")  # news is in none of his packages
    assert reason(check(client, bob.playback_token, "news", ip=AWAY_IP)) == "not_in_packages"
    portals.update_portal(restricted["portal"], caller=caller(restricted["portal"]),
                          data={"settings": {"maxSessionsPerSubscriber": 1}})
    assert verdict(client, restricted, "sport") is None  # takes the only place
    assert verdict(client, restricted, ip=AWAY_IP) == "location_restricted"
    assert verdict(client, restricted, ip=HOME_IP) == "too_many_sessions"


TEXT_LOCATIONS = [(["se", "FI"], ["10.0.0.0/25", "10.0.0.128/25", "10.0.2.0/24", "2001:db8::/33"]),
                  (["FI"], ["10.0.1.0/24", "192.0.2.1/32", "2001:db8:8000::/33"])]
VIEWERS = [("10.0.0.0", None), ("10.0.2.255", ""), ("10.0.3.0", None), ("9.255.255.255", None), ("192.0.2.1", None),
           ("192.0.2.2", None), ("192.0.2.0", None), ("2001:db8:ffff::1", None), ("2001:db9::", None),
           ("::ffff:10.0.1.1", None), ("::", None), ("255.255.255.255", None), ("0.0.0.0", None),
           ("203.0.113.1", "fi"), ("203.0.113.1", "SE"), ("203.0.113.1", "NO"), (None, "FI"), (None, None),
           ("bogus", "F,I"), ("10.0.0.1", "FI;")]


def test_restriction_texts_merge_ranges_and_are_parsed_once():
    text = restrictions.encode(TEXT_LOCATIONS)
    assert text == "FI,SE;0a000000-0a0002ff,c0000201-c0000201;20010db8000000000000000000000000-20010db8ffffffffffffffffffffffff"
    assert restrictions.parse(text) is restrictions.parse(text)  # parsed once per distinct text
    parsed = restrictions.parse(text.encode())  # as Redis returns it
    assert [parsed.allows(restrictions.viewer_key(ip, country)) for ip, country in VIEWERS] == [
        True, True, False, False, True, False, False, True, False, True, False, False, False,
        True, True, False, True, False, False, True]
    assert restrictions.allows(None, restrictions.Viewer()) and restrictions.allows("", restrictions.Viewer())
    assert not restrictions.allows(";;", restrictions.viewer_key(HOME_IP, "FI"))


@pytest.mark.parametrize("locations", [TEXT_LOCATIONS, [([], ["0.0.0.0/0"])], [(["FI"], [])], [([], ["::/0"])],
                                       [([], [f"10.{i}.0.0/16" for i in range(0, 200, 2)])]])
def test_the_redis_script_decides_exactly_like_python(on_redis, locations):
    from catena_site.shared_store import store

    text = restrictions.encode(locations)
    script = restrictions.LUA + "return located(ARGV[1], ARGV[2], ARGV[3]) and 1 or 0"
    viewers = VIEWERS + [(f"10.{i}.{i}.1", None) for i in range(0, 256, 3)]
    for ip, country in viewers:
        viewer = restrictions.viewer_key(ip, country)
        expected = restrictions.parse(text).allows(viewer)
        assert store().client.eval(script, 0, text, viewer.address, viewer.country) == int(expected), (ip, country)


def test_a_cold_check_reads_the_locations_with_one_more_query(client, restricted, django_assert_num_queries):
    # the streaming servers, subscriber by token, portal, the subscriptions' next start or end, granting packages,
    # their channels with their locations' IDs, those locations (only because some channels are restricted), and
    # the devices and their limits
    with django_assert_num_queries(8):
        assert verdict(client, restricted, ip=AWAY_IP) == "location_restricted"


# --- Cached facts, invalidated exactly ---------------------------------------------------------------------------


@pytest.fixture
def warm(client, restricted, cache_backend):
    for ip in (HOME_IP, AWAY_IP):
        check(client, restricted["alice"].playback_token, "news", ip=ip)
    check(client, restricted["alice"].playback_token, "sport")
    return restricted


def test_a_warm_restricted_check_needs_no_query(client, warm, django_assert_num_queries):
    token, session_id = warm["alice"].playback_token, str(uuid.uuid4())
    v6, sport = str(uuid.uuid4()), str(uuid.uuid4())
    check(client, token, "news", session_id=session_id, ip=HOME_IP)  # the sessions start (written)
    check(client, token, "news", session_id=v6, ip="2001:db8::7")
    check(client, token, "sport", session_id=sport, ip=AWAY_IP)
    before = sessions.cached_heartbeats([session_id])[session_id]
    with django_assert_num_queries(0):
        for number in range(1, 4):
            assert check(client, token, "news", session_id=session_id, request_type="update_session",
                         request_number=number, bytes=number * 1000, ip=HOME_IP).status_code == 200
        assert verdict(client, warm, request_type="update_session", ip=AWAY_IP, country="SE") == \
            "location_restricted"
        assert verdict(client, warm, session_id=v6, request_type="update_session", ip="2001:db8::7") is None
        assert verdict(client, warm, "sport", session_id=sport, request_type="update_session", ip=AWAY_IP) is None
    assert sessions.cached_heartbeats([session_id])[session_id][1] == 3000 > before[1]


def test_a_refused_update_does_not_refresh_the_heartbeat(client, warm):
    token, session_id = warm["alice"].playback_token, str(uuid.uuid4())
    check(client, token, "news", session_id=session_id, ip=HOME_IP)
    assert reason(check(client, token, "news", session_id=session_id, request_type="update_session",
                        bytes=5000, ip=AWAY_IP)) == "location_restricted"
    assert sessions.cached_heartbeats([session_id])[session_id][1] == 0


def test_a_location_update_applies_at_once(client, warm, committed):
    committed(content.update_location, warm["home"], caller=caller(warm["portal"]),
              data={"networks": ["198.51.100.0/24"], "countries": []})
    assert verdict(client, warm, ip=HOME_IP) == "location_restricted"
    assert verdict(client, warm, ip=AWAY_IP) is None
    assert verdict(client, warm, ip=HOME_IP, country="FI") == "location_restricted"
    committed(content.update_location, warm["home"], caller=caller(warm["portal"]), data={"countries": ["FI"]})
    assert verdict(client, warm, ip=HOME_IP, country="FI") is None


def test_a_forced_location_delete_lifts_the_restriction_it_alone_made(client, warm, committed):
    assert verdict(client, warm, ip=AWAY_IP) == "location_restricted"
    committed(content.delete_location, warm["home"], caller=caller(warm["portal"]), force=True)
    assert verdict(client, warm, ip=AWAY_IP) is None


def test_deleting_one_of_two_locations_narrows_the_channel(client, warm, committed):
    away = make_location(warm["portal"], "away", countries=(), networks=("198.51.100.0/24",))
    committed(restrict, warm["news"], warm["home"], away)
    assert verdict(client, warm, ip=AWAY_IP) is None
    committed(content.delete_location, away, caller=caller(warm["portal"]), force=True)
    assert verdict(client, warm, ip=AWAY_IP) == "location_restricted"
    assert verdict(client, warm, ip=HOME_IP) is None


def test_a_channels_restrictions_change_applies_at_once(client, warm, committed):
    assert verdict(client, warm, "sport", ip=AWAY_IP) is None
    committed(restrict, warm["sport"], warm["home"])
    assert verdict(client, warm, "sport", ip=AWAY_IP) == "location_restricted"
    committed(restrict, warm["news"])  # no location left: anywhere
    assert verdict(client, warm, ip=AWAY_IP) is None


def test_changes_that_cannot_alter_a_decision_keep_the_cached_answers(client, warm, committed,
                                                                     django_assert_num_queries):
    portal, who = warm["portal"], caller(warm["portal"])
    playing = play(client, warm, ip=HOME_IP)
    category = content.create_category(portal, caller=who, data={"name": "info", "title": "Info"})
    committed(content.update_channel, warm["news"], caller=who, data={"categories": [category.public_id]})
    committed(content.update_category, category, caller=who, data={"title": "News and info"})
    committed(content.update_location, warm["home"], caller=who, data={"title": "Homeland"})
    committed(content.delete_category, category, caller=who)
    with django_assert_num_queries(0):  # categories and titles do not decide playback: nothing recomputed
        assert verdict(client, warm, session_id=playing, ip=HOME_IP, request_type="update_session") is None
        assert verdict(client, warm, ip=AWAY_IP, request_type="update_session") == "location_restricted"


def test_another_portals_locations_change_nothing_here(client, warm, other_portal, committed,
                                                       django_assert_num_queries):
    theirs = make_location(other_portal, "home", countries=("SE",), networks=("198.51.100.0/24",))
    their_news = make_channel(other_portal, "news")
    make_package(other_portal, "basic", [their_news])
    committed(restrict, their_news, theirs)
    committed(content.update_location, theirs, caller=caller(other_portal), data={"networks": ["0.0.0.0/0"]})
    verdict(client, warm, "sport")  # the list of streaming servers, which gained the other portal's, is read again
    with django_assert_num_queries(0):
        assert verdict(client, warm, ip=AWAY_IP, request_type="update_session") == "location_restricted"
        assert verdict(client, warm, ip=AWAY_IP, country="SE", request_type="update_session") == \
            "location_restricted"
    other = make_channel(warm["portal"], "other")
    with pytest.raises(Invalid) as refused:  # another portal's location is no location here
        restrict(other, theirs)
    assert list(refused.value.errors) == ["locationRestrictions"]


# --- Sessions closed by a change --------------------------------------------------------------------------------


def play(client, world, name="news", **params) -> str:
    session_id = str(uuid.uuid4())
    response = check(client, world["alice"].playback_token, name, session_id=session_id, **params)
    assert response.status_code == 200, response.content
    return session_id


def session(session_id) -> PlaySession:
    return PlaySession.objects.get(streamer_session_id=session_id)


def test_a_location_change_closes_exactly_the_sessions_it_refuses(client, restricted, committed):
    at_home = play(client, restricted, ip=HOME_IP)
    by_country = play(client, restricted, ip=AWAY_IP, country="FI")
    by_v6 = play(client, restricted, ip="2001:db8::5")
    elsewhere = play(client, restricted, "sport", ip=AWAY_IP)
    assert session(by_country).country == "FI"
    committed(content.update_location, restricted["home"], caller=caller(restricted["portal"]),
              data={"networks": ["2001:db8::/32"]})
    assert not session(at_home).active and session(at_home).close_reason == "access"
    assert session(by_country).active and session(by_v6).active and session(elsewhere).active


def test_a_new_restriction_closes_the_sessions_outside_it(client, restricted, committed):
    inside, outside = play(client, restricted, "sport", ip=HOME_IP), play(client, restricted, "sport", ip=AWAY_IP)
    committed(restrict, restricted["sport"], restricted["home"])
    assert session(inside).active
    assert not session(outside).active and session(outside).close_reason == "access"


def test_a_forced_delete_closes_the_sessions_the_remaining_locations_refuse(client, restricted, committed):
    away = make_location(restricted["portal"], "away", countries=(), networks=("198.51.100.0/24",))
    restrict(restricted["news"], restricted["home"], away)
    at_home, away_session = play(client, restricted, ip=HOME_IP), play(client, restricted, ip=AWAY_IP)
    committed(content.delete_location, away, caller=caller(restricted["portal"]), force=True)
    assert session(at_home).active
    assert not session(away_session).active and session(away_session).close_reason == "access"


def test_a_buffered_start_keeps_its_country(client, restricted, on_redis, committed):
    by_country = play(client, restricted, ip=AWAY_IP, country="FI")
    assert sessions.write_opened_sessions() == 1
    assert session(by_country).country == "FI"
    committed(content.update_location, restricted["home"], caller=caller(restricted["portal"]),
              data={"networks": []})
    assert session(by_country).active
