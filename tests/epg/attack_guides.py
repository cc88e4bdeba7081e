"""The two attack guides of the issue-11 attack run, at any size, written as gzip into a file object.

* :func:`huge_title_guide` — one programme whose ``<title>`` is ``title_bytes`` long (900 MiB of one letter
  gzips to about 900 KB);
* :func:`many_channels_guide` — ``channels`` channels of one programme each (3,000,000 in the attack run).

The unit tests use small versions; ``bench/epg_attack.py`` builds the full-size ones.
"""

from __future__ import annotations

import datetime as dt
import gzip

HEAD = b'<?xml version="1.0" encoding="UTF-8"?>\n<tv generator-info-name="catena-attack">\n'
BLOCK = 1 << 20


def xmltv_time(moment: dt.datetime) -> bytes:
    return moment.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S +0000").encode()


def huge_title_guide(out, title_bytes: int, start: dt.datetime, *, letter: bytes = b"A") -> None:
    """One programme on ``huge.tv`` at ``start`` (one hour) with a title of ``title_bytes`` bytes."""
    times = b'start="%s" stop="%s"' % (xmltv_time(start), xmltv_time(start + dt.timedelta(hours=1)))
    block = letter * BLOCK
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, compresslevel=9) as packed:
        packed.write(HEAD + b'  <programme %s channel="huge.tv"><title lang="en">' % times)
        remaining = title_bytes
        while remaining > 0:
            packed.write(block[:min(BLOCK, remaining)])
            remaining -= BLOCK
        packed.write(b"</title></programme>\n</tv>\n")


def many_channels_guide(out, channels: int, start: dt.datetime) -> None:
    """``channels`` channels ``c0000000.tv`` … with one programme each, at ``start`` for an hour."""
    times = b'start="%s" stop="%s"' % (xmltv_time(start), xmltv_time(start + dt.timedelta(hours=1)))
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, compresslevel=6) as packed:
        packed.write(HEAD)
        batch = []
        for number in range(channels):
            batch.append(b'  <programme %s channel="c%07d.tv"><title>Show</title></programme>\n' % (times, number))
            if len(batch) == 10_000:
                packed.write(b"".join(batch))
                batch.clear()
        packed.write(b"".join(batch) + b"</tv>\n")
