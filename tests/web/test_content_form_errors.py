"""The channel, package and EPG source forms show every field's error in one answer (the services' input shapes
decide), and the channel screens show a channel naming an EPG source that does not exist yet."""

from __future__ import annotations

import re

from django.core.files.uploadedfile import SimpleUploadedFile

from content.models import Channel, EpgSource, Package
from monitoring.operations import Operation
from tests.content.test_channels_api import make_channel, make_package
from tests.epg.helpers import make_source

from .conftest import page

LOGO_NOT_AN_IMAGE = b"GIF89a not really"


def fields_in_error(response) -> set[str]:
    return set(re.findall(r'class="form-field has-error">\s*<label for="id_(\w+)"', page(response)))


def test_the_channel_form_shows_every_fields_error_at_once_and_stores_nothing(web, portal):
    operations = Operation.objects.count()
    response = web["content"].post("/channels/new/", {
        "name": "x", "title": "", "epg_source": "no such!", "epg_channel_name": "e" * 201,
        "logo": SimpleUploadedFile("logo.png", LOGO_NOT_AN_IMAGE, content_type="image/png")})
    assert response.status_code == 400
    assert fields_in_error(response) == {"name", "title", "epg_source", "epg_channel_name", "logo"}
    html = page(response)
    assert "Must be 2–20 characters" in html and "This field is required." in html
    assert "Must be at most 200 characters." in html
    assert not Channel.objects.exists() and Operation.objects.count() == operations


def test_the_channel_edit_form_shows_every_fields_error_at_once_and_changes_nothing(web, portal):
    channel = make_channel(portal, "news", "News")
    response = web["content"].post(f"/channels/{channel.public_id}/", {
        "title": "t" * 201, "epg_source": "x", "epg_channel_name": "e" * 201})
    assert response.status_code == 400
    assert fields_in_error(response) == {"title", "epg_source", "epg_channel_name"}
    channel.refresh_from_db()
    assert (channel.title, channel.epg_source_name) == ("News", "")


def test_the_package_forms_show_every_fields_error_at_once(web, portal):
    response = web["content"].post("/packages/new/", {"name": "bad name", "description": "d" * 2001})
    assert response.status_code == 400
    assert fields_in_error(response) == {"name", "description"}
    assert "Must be at most 2000 characters." in page(response)
    assert not Package.objects.exists()
    package = make_package(portal, "basic")
    response = web["content"].post(f"/packages/{package.public_id}/", {"name": "x", "description": "d" * 2001})
    assert response.status_code == 400 and fields_in_error(response) == {"name", "description"}
    package.refresh_from_db()
    assert (package.name, package.description) == ("basic", "")


def test_the_epg_source_forms_show_every_fields_error_at_once(web, portal):
    response = web["owner"].post("/epg-sources/new/", {"name": "x", "url": "gopher://guide", "period": "0"})
    assert response.status_code == 400
    assert fields_in_error(response) == {"name", "url", "period"}
    html = page(response)
    assert "Only http:// and https:// URLs are supported." in html
    assert "Must be a whole number of days from 1 to 3650." in html
    assert not EpgSource.objects.exists()
    source = make_source(portal, "main-epg")
    response = web["owner"].post(f"/epg-sources/{source.public_id}/edit/", {"name": "bad name", "url": "",
                                                                             "period": "4000"})
    assert response.status_code == 400 and fields_in_error(response) == {"name", "url", "period"}
    source.refresh_from_db()
    assert (source.name, source.period) == ("main-epg", 1)


def test_the_channel_screens_say_when_no_source_has_the_name_yet(web, portal):
    channel = make_channel(portal, "news", "News", epgSourceName="main-epg", epgChannelName="news.tv")
    client = web["content"]
    listing = page(client.get("/channels/"))
    assert "no EPG source named main-epg yet" in listing
    edit = page(client.get(f"/channels/{channel.public_id}/"))
    assert re.search(r'<option value="main-epg" selected>main-epg \(no EPG source named main-epg yet\)</option>', edit)
    assert "No EPG source named main-epg yet" in edit
    # Saving the page as it is keeps the reference.
    response = client.post(f"/channels/{channel.public_id}/", {"title": "News 24", "epg_source": "main-epg",
                                                                "epg_channel_name": "news.tv"})
    assert response.status_code == 302
    channel.refresh_from_db()
    assert (channel.title, channel.epg_source_name, channel.epg_source) == ("News 24", "main-epg", None)
    source = make_source(portal, "main-epg")
    assert "no EPG source named" not in page(client.get("/channels/"))
    assert 'data-testid="epg-source-missing"' not in page(client.get("/channels/"))
    channel.refresh_from_db()
    assert channel.epg_source == source
