"""Issue 19, guided mapping: the XMLTV channels an import stores (both parsing paths), the suggestions (exact id,
normalised name, fuzzy), accepting them through the Management API and the screens, the warning when a channel
names an EPG channel its source does not list, and the channel page's schedule for today."""

from __future__ import annotations

import datetime as dt

import pytest
from xml.sax.saxutils import escape, quoteattr

from content.epg import mapping, pipeline
from content.epg.mapping import Matcher, normalise
from content.models import Channel, EpgSourceChannel
from monitoring.operations import Operation, OperationType
from tests.conftest import API
from tests.content.test_channels_api import make_channel
from tests.epg.helpers import fetch_now, make_source, program

pytestmark = pytest.mark.django_db


def channel_element(channel_id: str, *names: str | tuple[str, str], icon: str = "") -> str:
    """A ``<channel>`` with display names (``(name, lang)`` or a name) and an icon."""
    inner = "".join(f"<display-name lang={quoteattr(name[1])}>{escape(name[0])}</display-name>"
                    if isinstance(name, tuple) else f"<display-name>{escape(name)}</display-name>" for name in names)
    if icon:
        inner += f"<icon src={quoteattr(icon)}/>"
    return f"  <channel id={quoteattr(channel_id)}>{inner}</channel>\n"


def xmltv(*parts: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<tv>\n' + "".join(parts) + "</tv>\n").encode()


GUIDE = xmltv(
    channel_element("bbcone.uk", ("BBC One", "en"), ("BBC 1", "en"), "BBC One HD", icon="https://img.example/bbc1.png"),
    channel_element("c4.uk", "Channel 4"),
    channel_element("c4plus1.uk", "Channel 4 +1"),
    channel_element("discovery", "Discovery Channel Europe"),
    channel_element("empty.tv"),
    program("bbcone.uk", 0, 1, "News"), program("bbcone.uk", 1, 2, "Weather"),
    program("c4.uk", 0, 2, "Film"),
    program("unlisted.tv", 0, 1, "Orphan"),
)


def stored_channels(source) -> list[tuple]:
    return list(EpgSourceChannel.objects.filter(epg_source=source).order_by("xmltv_id").values_list(
        "xmltv_id", "display_names", "icon", "program_count", "listed"))


EXPECTED = [
    ("bbcone.uk", [["BBC One", "en"], ["BBC 1", "en"], ["BBC One HD", ""]], "https://img.example/bbc1.png", 2, True),
    ("c4.uk", [["Channel 4", ""]], "", 1, True),
    ("c4plus1.uk", [["Channel 4 +1", ""]], "", 0, True),
    ("discovery", [["Discovery Channel Europe", ""]], "", 0, True),
    ("empty.tv", [], "", 0, True),
    ("unlisted.tv", [], "", 1, False),
]


@pytest.fixture(params=["parser process", "in process"])
def parsing(request, monkeypatch):
    """Both ways of reading a guide: in a forked parser process, and in the worker itself (a platform that
    cannot fork)."""
    if request.param == "parser process":
        if not pipeline.available():
            pytest.skip("the parser process needs os.fork")
    else:
        monkeypatch.setattr(pipeline, "available", lambda: False)
    return request.param


def test_an_import_stores_the_guides_channels_with_names_icon_and_programme_counts(portal, server, parsing):
    source = make_source(portal, url=server.serve("/guide.xml", GUIDE))
    assert fetch_now(source).status == "success"
    assert stored_channels(source) == EXPECTED


def test_a_new_import_replaces_the_channels_and_a_failed_one_keeps_them(portal, server, parsing):
    source = make_source(portal, url=server.serve("/guide.xml", GUIDE))
    assert fetch_now(source).status == "success"
    server.serve("/guide.xml", xmltv(channel_element("c4.uk", "Channel Four"), program("c4.uk", 0, 1, "Film")))
    assert fetch_now(source).status == "success"
    assert stored_channels(source) == [("c4.uk", [["Channel Four", ""]], "", 1, True)]
    server.serve("/guide.xml", xmltv(channel_element("x.tv", "X"), program("x.tv", 0, 1, "Film"))[:-8])  # cut
    assert fetch_now(source).status == "error"
    assert stored_channels(source) == [("c4.uk", [["Channel Four", ""]], "", 1, True)]
