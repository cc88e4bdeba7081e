"""The embedded Celery broker: kombu's filesystem transport, made safe for concurrent producers and consumers.

Why not kombu's own ``filesystem://``: its ``Channel._put`` *creates* ``<queue dir>/<ms>_<uuid>.<queue>.msg`` and
only then writes the JSON into it, while ``Channel._get`` (in the worker) lists the directory, moves every
``*.<queue>.msg`` it sees out of it and parses it. A file listed between the producer's ``open()`` and its
``write()`` is read empty, ``json.loads("")`` raises, and the exception leaves ``drain_events`` — Celery stops
the worker with ``Unrecoverable error: JSONDecodeError``. The more producers (web processes) and load, the likelier.

This transport keeps kombu's directories, file names and exchange tables (the two can read each other's queues)
and changes four things:

* **Write, then rename.** A message is written to ``.<uuid>.tmp`` in the queue directory — a name no reader
  takes for a message, since it does not end in ``.<queue>.msg`` — and ``os.replace``\\ d to its final name, so a
  reader only ever sees complete files. (Same directory, so the rename is atomic. No ``fsync``: the broker is
  for one machine's processes, and a message lost to a power cut is re-sent by the periodic jobs.)
* **A bad file is set aside, never fatal.** A file that still does not decode to a kombu message (empty, not
  JSON, not a message) is moved to ``rejected/`` and logged with ``ERROR``; the next message is delivered.
* **Claim by rename, within the broker directory.** A consumer takes a file by renaming it into ``processed/``
  (kombu moves it to the system temporary directory, a copy when that is another file system, so two workers
  could both read it); only one ``rename`` of a name succeeds.
* **Cheap polls.** kombu lists and sorts the whole queue directory for every message it takes (quadratic in the
  backlog) and sleeps ``polling_interval`` (1 s) whenever nothing could be taken — including while the worker
  waits for its prefetched tasks to finish, which caps a ``--concurrency=2`` worker near 2 tasks/s. Here one
  sorted listing serves the following messages, and the sleep between empty polls starts at
  ``MIN_POLLING_INTERVAL`` after a delivery and doubles up to ``polling_interval`` while idle.

The folders (queue, processed, control, rejected) are created on first use. Settings name the transport by its
alias, ``catena-filesystem://``, registered with kombu when this module is imported.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections import deque
from pathlib import Path
from queue import Empty
from time import monotonic, sleep

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

log = logging.getLogger(__name__)

ALIAS = "catena-filesystem"
MIN_POLLING_INTERVAL = 0.005  # seconds: the first sleep after a delivery (doubling up to polling_interval)
RELIST_INTERVAL = 0.05  # seconds: an empty queue re-lists the directory at most this often
MESSAGE_SUFFIX = ".msg"
TEMPORARY_SUFFIX = ".tmp"


def folders(transport_options: dict) -> dict[str, Path]:
    """The broker's folders by role; ``rejected`` defaults to a sibling of the queue folder."""
    queue_in = Path(transport_options.get("data_folder_in", "data_in"))
    return {
        "in": queue_in,
        "out": Path(transport_options.get("data_folder_out", "data_out")),
        "processed": Path(transport_options.get("processed_folder", "processed")),
        "control": Path(transport_options.get("control_folder", "control")),
        "rejected": Path(transport_options.get("rejected_folder", queue_in.parent / "rejected")),
    }


class Channel(filesystem.Channel):
    """kombu's filesystem channel with atomic writes, rejected files set aside and a cached listing."""

    def __init__(self, connection, **kwargs):
        self._folders = folders(connection.client.transport_options)
        for folder in self._folders.values():
            folder.mkdir(parents=True, exist_ok=True)
        self._pending: dict[str, deque[str]] = {}  # queue name -> file names of the last listing, oldest first
        self._listed_at = float("-inf")
        super().__init__(connection, **kwargs)

    def _put(self, queue, payload, **kwargs):
        """Write the message under a temporary name, then rename it into the queue (readers see it whole)."""
        folder = self._folders["out"]
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}{MESSAGE_SUFFIX}"
        temporary = folder / f".{uuid.uuid4().hex}{TEMPORARY_SUFFIX}"
        try:
            with open(temporary, "xb") as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(temporary, folder / name)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise ChannelError(f"Cannot add file {name!r} to directory {folder}") from exc

    def _get(self, queue):
        """The oldest well-formed message of ``queue``; files that are not messages go to ``rejected/``."""
        pending = self._pending.get(queue)
        if not pending and monotonic() - self._listed_at >= RELIST_INTERVAL:
            self._list()
            pending = self._pending.get(queue)
        while pending:
            name = pending.popleft()
            claimed = self._folders["processed"] / name
            try:
                os.rename(self._folders["in"] / name, claimed)  # claim: of concurrent consumers one succeeds
            except FileNotFoundError:
                continue  # another consumer took it
            try:
                payload = loads(bytes_to_str(claimed.read_bytes()))
                self.Message(payload, channel=self)  # what delivery will build: fails here, not in the worker
            except Exception as exc:  # any failure means "not a message", and none may stop the worker
                self._reject(claimed, exc)
                continue
            if not self.store_processed:
                claimed.unlink(missing_ok=True)
            return payload
        raise Empty()

    def _list(self) -> None:
        """Re-read the queue folder: message file names per queue, oldest first (names start with the time)."""
        self._pending = {}
        for name in sorted(os.listdir(self._folders["in"])):
            if name.endswith(MESSAGE_SUFFIX) and not name.startswith("."):
                queue = name.partition(".")[2][: -len(MESSAGE_SUFFIX)]
                self._pending.setdefault(queue, deque()).append(name)
        self._listed_at = monotonic()

    def _reject(self, claimed: Path, exc: Exception) -> None:
        """Keep an undecodable file in ``rejected/`` for the operator, and say so in the worker's log."""
        rejected = self._folders["rejected"] / claimed.name
        try:
            os.replace(claimed, rejected)
        except OSError:
            log.exception("broker: could not move %s to %s", claimed, rejected)
        log.error("broker: message file %s is not a valid message (%s: %s); moved to %s",
                  claimed.name, type(exc).__name__, exc, rejected)

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        """Create the exchange table atomically before kombu updates it under its file lock.

        kombu creates the table with ``open("wb")`` and then writes it, so a process reading it in between
        (every publish reads it) gets an empty file and a ``JSONDecodeError``. Linking a complete empty table
        into place first leaves kombu only the locked read-modify-write path.
        """
        table = self._exchange_file(exchange)
        if not table.exists():
            temporary = table.parent / f".{uuid.uuid4().hex}{TEMPORARY_SUFFIX}"
            temporary.write_text("[]")
            try:
                os.link(temporary, table)  # fails if another process created it first: keep theirs
            except FileExistsError:
                pass
            finally:
                temporary.unlink(missing_ok=True)
        super()._queue_bind(exchange, routing_key, pattern, queue)


class Transport(filesystem.Transport):
    """The ``catena-filesystem://`` transport; options as kombu's filesystem transport, plus ``rejected_folder``."""

    Channel = Channel
    polling_interval = 0.2  # the longest sleep between empty polls; kombu's default is 1 s

    def __init__(self, client, **kwargs):
        super().__init__(client, **kwargs)
        self._poll_delay = MIN_POLLING_INTERVAL

    def drain_events(self, connection, timeout=None):
        """Deliver one message; between empty polls sleep 5 ms after a delivery, doubling up to polling_interval.

        kombu sleeps the full interval every time, so a worker whose prefetched tasks finish in milliseconds
        waits up to a second before it may take the next ones.
        """
        started = monotonic()
        while True:
            try:
                self.cycle.get(self._deliver, timeout=timeout)
            except Empty:
                elapsed = monotonic() - started
                if timeout is not None and elapsed >= timeout:
                    raise TimeoutError() from None  # socket.timeout, what kombu raises
                delay = self._poll_delay
                if timeout is not None:
                    delay = min(delay, timeout - elapsed)
                sleep(delay)
                self._poll_delay = min(self._poll_delay * 2, self.polling_interval)
            else:
                self._poll_delay = MIN_POLLING_INTERVAL
                return


TRANSPORT_ALIASES.setdefault(ALIAS, f"{__name__}:Transport")
