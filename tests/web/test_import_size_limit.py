"""The size limit of a CSV import is the file's rule, in ``read_csv``: the import screens and the import commands
refuse a file over it alike, and nothing is stored."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from catena_site import csvfiles
from content.models import Channel
from subscribers.models import Subscriber

from .conftest import page

CHANNELS = "name,title,epgSourceName,epgChannelName,packages\nnews,News 24,,,\nsport,Sport,,,\n"
SUBSCRIBERS = "name,country_code,phone,packages\nAlice,1,2345678901,\nBob,44,7700900123,\n"
LIMIT = 40  # bytes: both files above are larger


@pytest.fixture
def small_limit(monkeypatch):
    monkeypatch.setattr(csvfiles, "MAX_IMPORT_BYTES", LIMIT)


def upload(name: str, text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


@pytest.mark.parametrize(("persona", "url", "name", "text", "model"), [
    ("content", "/channels/import/", "channels.csv", CHANNELS, Channel),
    ("subscribers", "/subscribers/import/", "subscribers.csv", SUBSCRIBERS, Subscriber),
])
def test_a_screen_refuses_a_file_over_the_limit_and_stores_nothing(web, portal, small_limit, persona, url, name,
                                                                    text, model):
    for action in ("check", "import"):
        response = web[persona].post(url, {"action": action, "file": upload(name, text)})
        assert "The file is larger than" in page(response), action
        assert response.status_code == (200 if action == "check" else 400)
    assert not model.objects.exists()


@pytest.mark.parametrize(("command", "text", "model"), [
    ("import_channels", CHANNELS, Channel),
    ("import_subscribers", SUBSCRIBERS, Subscriber),
])
def test_an_import_command_refuses_a_file_over_the_limit_and_stores_nothing(portal, small_limit, tmp_path, capsys,
                                                                             command, text, model):
    path = tmp_path / "file.csv"
    path.write_text(text)
    with pytest.raises(CommandError):
        call_command(command, str(path), "--portal", portal.name)
    assert "The file is larger than" in capsys.readouterr().out
    assert not model.objects.exists()


def test_files_within_the_limit_are_read_whole(portal, tmp_path, capsys):
    path = tmp_path / "file.csv"
    path.write_text(CHANNELS)
    call_command("import_channels", str(path), "--portal", portal.name)
    assert sorted(Channel.objects.values_list("name", flat=True)) == ["news", "sport"]
