import json

import pytest
from rest_framework.test import APIClient

from portals import services as portal_services
from portals.auth import Caller

CLIENT = "/tv/api/v1"


@pytest.fixture
def sms_file(settings, tmp_path):
    settings.SMS_BACKEND = "file"
    settings.SMS_FILE_PATH = str(tmp_path / "sms.jsonl")
    return tmp_path / "sms.jsonl"


def sent_messages(path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def last_code(path) -> str:
    return sent_messages(path)[-1]["text"][-4:]


@pytest.fixture
def app(portal):
    """A client of the subscriber apps, reaching the portal by its domain (Host header)."""
    return APIClient(HTTP_HOST=portal.domain)


def allow_self_registration(portal):
    portal_services.update_portal(portal, caller=Caller(portal=portal),
                                  data={"settings": {"autoCreateSubscribers": True}})
