import pytest

from tests.webhooks.receiver import Receiver


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def private_urls(settings):
    """The receiver listens on 127.0.0.1, which only EPG_ALLOW_PRIVATE_URLS=true lets a webhook reach."""
    settings.EPG_ALLOW_PRIVATE_URLS = True
