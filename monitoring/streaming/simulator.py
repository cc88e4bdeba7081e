"""A small Flussonic simulator (streaming.md §5): viewers playing against the auth and events endpoints.

Each viewer opens a session (``new_session``), re-authorizes it (``update_session`` with growing bytes and
duration), sometimes switches channel, and finally stops. Events go out in batches, as Flussonic's
``event_sink`` sends them: some twice, some late (in a later batch, out of order), timestamps in seconds or
milliseconds. It speaks HTTP to a running Catena, or calls the views in-process (tests, demos).
"""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field

AUTH_PATH = "/streaming/flussonic/auth"
EVENTS_PATH = "/streaming/flussonic/events"


class HttpTransport:
    """Talks to a running Catena over HTTP."""

    def __init__(self, base_url: str, timeout: float = 5.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def get(self, path: str, params: dict) -> tuple[int, dict]:
        url = f"{self.base_url}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:
                return response.status, self._reason(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, self._reason(exc.read())

    def post_json(self, path: str, params: dict, body) -> int:
        url = f"{self.base_url}{path}?{urllib.parse.urlencode(params)}"
        request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    @staticmethod
    def _reason(body: bytes) -> dict:
        try:
            return json.loads(body or b"{}")
        except ValueError:
            return {}


class ClientTransport:
    """Calls the views in-process through Django's test client (no server needed)."""

    def __init__(self, client=None):
        if client is None:
            from django.test import Client

            client = Client()
        self.client = client

    def get(self, path: str, params: dict) -> tuple[int, dict]:
        response = self.client.get(path, params)
        body = response.json() if response.get("Content-Type", "").startswith("application/json") else {}
        return response.status_code, body

    def post_json(self, path: str, params: dict, body) -> int:
        return self.client.post(f"{path}?{urllib.parse.urlencode(params)}", json.dumps(body),
                                content_type="application/json").status_code


@dataclass
class Viewer:
    token: str
    channels: list[str]
    ip: str
    user_agent: str
    session_id: str = ""
    channel: str = ""
    opened_at: float = 0.0
    bytes: int = 0
    request_number: int = 0
    playing: bool = False


@dataclass
class Stats:
    auth: Counter = field(default_factory=Counter)  # "200", or the 403 reason
    events_sent: int = 0
    duplicates: int = 0
    late: int = 0
    batches: Counter = field(default_factory=Counter)  # HTTP status of each events POST


class StreamerSimulator:
    """Plays viewers ``[(token, [channel names…]), …]`` against Catena's streaming endpoints."""

    def __init__(self, transport, key: str, viewers: list[tuple[str, list[str]]], *, seed: int = 1,
                 duplicate_rate: float = 0.05, late_rate: float = 0.05, switch_rate: float = 0.1,
                 batch_size: int = 50, clock=time.time):
        self.transport, self.key, self.clock = transport, key, clock
        self.random = random.Random(seed)
        self.duplicate_rate, self.late_rate, self.switch_rate = duplicate_rate, late_rate, switch_rate
        self.batch_size = batch_size
        self.viewers = [Viewer(token, list(channels) or ["unknown"], ip=f"10.{i // 250 % 250}.{i % 250}.{1 + i % 200}",
                               user_agent=f"SimPlayer/1.0 (viewer {i})") for i, (token, channels) in enumerate(viewers)]
        self.pending: list[dict] = []
        self.held_back: list[dict] = []
        self.stats = Stats()

    # --- what Flussonic does --------------------------------------------------------------------------------

    def _auth(self, viewer: Viewer, request_type: str) -> bool:
        params = {"key": self.key, "name": viewer.channel, "token": viewer.token, "ip": viewer.ip, "proto": "hls",
                  "session_id": viewer.session_id, "request_type": request_type,
                  "request_number": viewer.request_number, "stream_clients": 1, "total_clients": len(self.viewers),
                  "user_agent": viewer.user_agent, "qs": f"token={viewer.token}&device_id=sim-{viewer.ip}"}
        if request_type == "update_session":
            params.update(bytes=viewer.bytes, duration=int(self.clock() - viewer.opened_at))
        status, body = self.transport.get(AUTH_PATH, params)
        viewer.request_number += 1
        outcome = "200" if status == 200 else (body.get("errors") or [{}])[0].get("code", str(status))
        self.stats.auth[outcome] += 1
        return status == 200

    def _timestamp(self, seconds: float):
        return int(seconds * 1000) if self.random.random() < 0.5 else int(seconds)  # ms or s, both in the wild

    def _event(self, viewer: Viewer, kind: str) -> None:
        now = self.clock()
        event = {"event": kind, "event_id": str(uuid.uuid4()), "id": viewer.session_id, "media": viewer.channel,
                 "token": viewer.token, "ip": viewer.ip, "user_agent": viewer.user_agent, "proto": "hls",
                 "bytes": viewer.bytes, "opened_at": self._timestamp(viewer.opened_at),
                 "updated_at": self._timestamp(now), "dvr": False,
                 "query_string": f"token={viewer.token}&device_id=sim-{viewer.ip}"}
        if kind == "play_closed":
            event["closed_at"] = self._timestamp(now)
        self.pending.append(event)

    def _open(self, viewer: Viewer) -> None:
        viewer.channel = self.random.choice(viewer.channels)
        viewer.session_id = str(uuid.uuid4())
        viewer.opened_at, viewer.bytes, viewer.request_number = self.clock(), 0, 0
        viewer.playing = self._auth(viewer, "new_session")
        if viewer.playing:
            self._event(viewer, "play_opened")
            self._event(viewer, "play_started")

    def _close(self, viewer: Viewer) -> None:
        if viewer.playing:
            self._event(viewer, "play_closed")
        viewer.playing = False

    def start(self) -> None:
        for viewer in self.viewers:
            self._open(viewer)
        self.flush()

    def tick(self) -> None:
        """One round: every viewer watches a bit more, re-authorizes, and maybe switches channel."""
        for viewer in self.viewers:
            if not viewer.playing:
                self._open(viewer)
                continue
            viewer.bytes += self.random.randint(200_000, 2_000_000)
            if self.random.random() < self.switch_rate:
                self._close(viewer)
                self._open(viewer)
                continue
            if self._auth(viewer, "update_session"):
                self._event(viewer, "play_updated")
            else:  # refused now (access withdrawn): Flussonic stops the session
                self._close(viewer)
        self.flush()

    def stop(self) -> None:
        for viewer in self.viewers:
            self._close(viewer)
        self.flush(final=True)

    def flush(self, final: bool = False) -> None:
        """Send pending events in batches, with duplicates and late (held back, reordered) deliveries."""
        events = self.held_back + self.pending if final else self.pending
        self.pending, outgoing = [], []
        self.held_back = [] if final else self.held_back
        for event in events:
            if not final and self.random.random() < self.late_rate:
                self.held_back.append(event)
                self.stats.late += 1
                continue
            outgoing.append(event)
            if self.random.random() < self.duplicate_rate:
                outgoing.append(dict(event))
                self.stats.duplicates += 1
        if not final and self.held_back and self.random.random() < 0.5:
            outgoing.extend(self.held_back)  # late ones arrive after newer events of the same session
            self.held_back = []
        for start in range(0, len(outgoing), self.batch_size):
            batch = outgoing[start:start + self.batch_size]
            self.stats.batches[str(self.transport.post_json(EVENTS_PATH, {"key": self.key}, batch))] += 1
            self.stats.events_sent += len(batch)

    def run(self, ticks: int, interval: float = 0.0, sleep=time.sleep) -> Stats:
        self.start()
        for _ in range(ticks):
            if interval:
                sleep(interval)
            self.tick()
        self.stop()
        return self.stats
