"""The client address behind reverse proxies (M3): only a trusted proxy's X-Forwarded-For is read, from the right."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from catena_site.http import client_ip


def _ip(remote: str, forwarded: str | None = None) -> str | None:
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return client_ip(RequestFactory().get("/", REMOTE_ADDR=remote, **extra))


@pytest.fixture
def behind_one_proxy(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "2001:db8::/32"]
    settings.TRUSTED_PROXY_COUNT = 1


def test_without_trusted_proxies_the_header_is_never_read(settings):
    settings.TRUSTED_PROXIES = []
    assert _ip("203.0.113.5", "192.0.2.10") == "203.0.113.5"


def test_behind_a_trusted_proxy_the_hop_it_appended_is_the_client(behind_one_proxy):
    assert _ip("10.0.0.2", "192.0.2.10, 203.0.113.5") == "203.0.113.5"  # the client wrote 192.0.2.10 itself
    assert _ip("10.0.0.2", "203.0.113.5") == "203.0.113.5"
    assert _ip("2001:db8::1", "2001:db8:ffff::9, 198.51.100.4") == "198.51.100.4"


def test_a_peer_that_is_not_a_trusted_proxy_is_the_client_whatever_the_header_says(behind_one_proxy):
    assert _ip("203.0.113.5", "10.0.0.7") == "203.0.113.5"
    assert _ip("203.0.113.5", "192.0.2.10, 10.0.0.7") == "203.0.113.5"


def test_a_missing_or_garbled_header_leaves_the_proxy_as_the_client(behind_one_proxy):
    assert _ip("10.0.0.2") == "10.0.0.2"
    assert _ip("10.0.0.2", "") == "10.0.0.2"
    assert _ip("10.0.0.2", "not-an-address") == "10.0.0.2"
    assert _ip("10.0.0.2", "192.0.2.10, unknown") == "10.0.0.2"


def test_two_proxies_skip_two_hops_each_of_them_trusted(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    settings.TRUSTED_PROXY_COUNT = 2
    assert _ip("10.0.0.2", "192.0.2.10, 203.0.113.5, 10.0.0.9") == "203.0.113.5"
    # The hop the first proxy should have added is not a proxy: it is the client, not skipped.
    assert _ip("10.0.0.2", "192.0.2.10, 203.0.113.5") == "203.0.113.5"


def test_use_x_forwarded_for_without_trusted_proxies_refuses_to_start():
    import os
    import subprocess
    import sys

    env = {**os.environ, "USE_X_FORWARDED_FOR": "true", "TRUSTED_PROXIES": "", "DEBUG": "true"}
    result = subprocess.run([sys.executable, "-c", "import catena_site.settings"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "TRUSTED_PROXIES" in result.stderr
