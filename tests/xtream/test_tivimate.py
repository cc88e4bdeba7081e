"""The requests TiviMate makes after "Add playlist → Xtream Codes", as the README lists them, replayed in that
order against a portal: each answers what a player needs to go on (players.md §3, issue 17 item 4).

Twice: through Django's test client, and over real HTTP against a gunicorn process serving the test database
(what "works end to end against a running server" means). The server process shares the test's database,
so its data is committed (``transaction=True``) and it needs a server database: on SQLite (an in-memory test
database) that variant is skipped, unless ``CATENA_REQUIRE_WORKER=1`` (the PostgreSQL run of ``.ci/run``) says
it must run.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.worker import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
EXAMPLE_LOGIN, EXAMPLE_PASSWORD = "12345678901", "Pw3xYz7KmN"
EXAMPLE_STREAM, EXAMPLE_START = "388059675775074305", "2026-12-06:18-00"
SERVER_START_TIMEOUT = 60.0


class Answer(NamedTuple):
    status: int
    content_type: str
    location: str | None
    body: bytes


def readme_sequence() -> list[str]:
    """The paths of the README's TiviMate example, in order."""
    text = README.read_text()
    block = text.split("What TiviMate then asks", 1)[1].split("```", 2)[1]
    return [line.split()[1] for line in block.strip().splitlines() if line.startswith("GET ")]


def replay(get: Callable[[str], Answer], world) -> None:
    """Send the README's sequence for Alice through ``get`` and check each answer as a player reads it."""
    alice, news = world["alice"], world["channels"]["news"]
    sequence = readme_sequence()
    assert len(sequence) == 10
    answers = []
    for path in sequence:
        path = (path.replace("username=…&password=…", f"username={EXAMPLE_LOGIN}&password={EXAMPLE_PASSWORD}")
                .replace(EXAMPLE_LOGIN, alice.login).replace(EXAMPLE_PASSWORD, alice.player_password)
                .replace(EXAMPLE_STREAM, str(news.id))
                .replace(EXAMPLE_START, f"{world['programs']['past'].start:%Y-%m-%d:%H-%M}"))
        assert "…" not in path
        answer = get(path)
        answers.append((path.split("?")[0].split("/")[1], answer.status))
        if answer.status == 200 and "json" in answer.content_type:
            body = json.loads(answer.body)
            action = re.search(r"action=(\w+)", path)
            if action is None:
                assert body["user_info"]["auth"] == 1 and body["user_info"]["status"] == "Active"
            elif action[1] == "get_live_categories":
                assert [c["category_name"] for c in body] == ["News", "Sport"]
            elif action[1] == "get_live_streams":
                assert [(s["num"], s["stream_id"]) for s in body][0] == (1, news.id)
            else:
                assert body == []
        elif answer.status == 302:
            assert answer.location.startswith("http://127.0.0.1:8080/news/")
            assert answer.location.endswith(f"?token={alice.playback_token}")
        else:
            assert answer.body.startswith(b'<?xml version="1.0"'), answer
    assert answers == [("player_api.php", 200)] * 7 + [("xmltv.php", 200), ("live", 302), ("timeshift", 302)]


def test_the_readme_sequence_of_tivimate_works_end_to_end(player, world):
    def get(path: str) -> Answer:
        response = player.get(path)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        return Answer(response.status_code, response.get("Content-Type", ""), response.get("Location"), body)

    replay(get, world)


# --- Over HTTP, against a gunicorn process -------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_url() -> str:
    """The test database, as a URL the server process reads (``DATABASE_URL``)."""
    from urllib.parse import quote

    from django.db import connection

    found = connection.settings_dict
    user = quote(found["USER"] or "", safe="")
    password = f":{quote(str(found['PASSWORD']), safe='')}" if found.get("PASSWORD") else ""
    host = f"{found['HOST'] or '127.0.0.1'}:{found['PORT'] or 5432}"
    return f"postgres://{user}{password}@{host}/{found['NAME']}"


@pytest.fixture
def server(world, tmp_path, settings):
    """gunicorn (one sync worker) serving the test database, sharing this test's cache (the file cache under
    ``tmp_path``: ``CATENA_VAR_DIR``), on a free port of this machine; stopped after the test."""
    from django.db import connection

    if connection.vendor != "postgresql":
        skip_or_fail("the server process needs a server database (the SQLite test database is in memory): "
                     "set DATABASE_URL=postgres://…")
    port = _free_port()
    env = {key: value for key, value in os.environ.items()
           if key not in ("REDIS_URL", "DATABASE_POOL", "DJANGO_SETTINGS_MODULE", "CATENA_REQUIRE_WORKER")}
    env.update(DATABASE_URL=_database_url(), CATENA_VAR_DIR=str(tmp_path), STREAMER_KEY=settings.STREAMER_KEY,
               STREAMER_ALLOWED_IPS="", LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT))
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:catena_site.gunicorn_conf",
                                "--workers", "1", "--bind", f"127.0.0.1:{port}", "catena_site.wsgi"],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            try:
                connection_ = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection_.request("GET", "/healthz")
                connection_.getresponse().read()
                break
            except OSError:
                assert process.poll() is None, (tmp_path / "server.log").read_text()
                assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()
                time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.mark.django_db(transaction=True)
def test_the_readme_sequence_of_tivimate_works_over_http_against_a_server_process(world, server):
    domain = world["portal"].domain

    def get(path: str) -> Answer:
        connection = http.client.HTTPConnection("127.0.0.1", server, timeout=30)
        try:
            connection.request("GET", path, headers={"Host": domain, "User-Agent": "TiviMate/4.7.0"})
            response = connection.getresponse()
            return Answer(response.status, response.getheader("Content-Type", ""), response.getheader("Location"),
                          response.read())
        finally:
            connection.close()

    replay(get, world)
