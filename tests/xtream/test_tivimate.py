"""The requests TiviMate makes after "Add playlist → Xtream Codes", as the README lists them, replayed in that
order against a portal: each answers what a player needs to go on (players.md §3, issue 17 item 4)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
EXAMPLE_LOGIN, EXAMPLE_PASSWORD = "12345678901", "Pw3xYz7KmN"
EXAMPLE_STREAM, EXAMPLE_START = "388059675775074305", "2026-12-06:18-00"


def readme_sequence() -> list[str]:
    """The paths of the README's TiviMate example, in order."""
    text = README.read_text()
    block = text.split("What TiviMate then asks", 1)[1].split("```", 2)[1]
    return [line.split()[1] for line in block.strip().splitlines() if line.startswith("GET ")]


def test_the_readme_sequence_of_tivimate_works_end_to_end(player, world):
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
        response = player.get(path)
        answers.append((path.split("?")[0].split("/")[1], response.status_code))
        if response.status_code == 200 and "json" in response["Content-Type"]:
            body = response.json()
            action = re.search(r"action=(\w+)", path)
            if action is None:
                assert body["user_info"]["auth"] == 1 and body["user_info"]["status"] == "Active"
            elif action[1] == "get_live_categories":
                assert [c["category_name"] for c in body] == ["News", "Sport"]
            elif action[1] == "get_live_streams":
                assert [(s["num"], s["stream_id"]) for s in body][0] == (1, news.id)
            else:
                assert body == []
        elif response.status_code == 302:
            assert response["Location"].startswith("http://127.0.0.1:8080/news/")
            assert response["Location"].endswith(f"?token={alice.playback_token}")
        else:
            assert b"".join(response.streaming_content).startswith(b'<?xml version="1.0"')
    assert answers == [("player_api.php", 200)] * 7 + [("xmltv.php", 200), ("live", 302), ("timeshift", 302)]
