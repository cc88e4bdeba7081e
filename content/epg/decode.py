"""The body as XML bytes: gzip is recognised by its magic bytes (never by file name or header) and
decompressed in bounded pieces, with a running total checked against ``EPG_MAX_BYTES``.

A guide served as ``guide.xml.gz`` with ``Content-Encoding: gzip`` is compressed twice; up to two layers are
undone. Multi-member gzip files (concatenated members) are read to the end.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

from .errors import FetchFailed

GZIP_MAGIC = b"\x1f\x8b"
MAX_LAYERS = 2
OUTPUT_CHUNK = 256 * 1024


def _peek(chunks: Iterator[bytes], size: int) -> tuple[bytes, Iterator[bytes]]:
    """The first ``size`` bytes (fewer at the end) and an iterator that still yields everything."""
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= size:
            break

    def replay() -> Iterator[bytes]:
        if head:
            yield head
        yield from chunks

    return head[:size], replay()


def _gunzip(chunks: Iterator[bytes], max_bytes: int) -> Iterator[bytes]:
    """Decompress gzip member after member, never producing more than OUTPUT_CHUNK bytes at once."""
    decompressor = zlib.decompressobj(wbits=31)
    between = None  # after a member: the bytes seen so far of what follows (another member or padding)
    produced = 0
    for chunk in chunks:
        data = chunk
        if between is not None:
            between += data
            if len(between) < len(GZIP_MAGIC):
                continue
            if not between.startswith(GZIP_MAGIC):
                return  # padding after the last member is ignored, as gzip(1) does
            data, between = between, None
        while data:
            try:
                out = decompressor.decompress(data, OUTPUT_CHUNK)
            except zlib.error as exc:
                raise FetchFailed(f"The gzip data is corrupt: {exc}.") from None
            if out:
                produced += len(out)
                if produced > max_bytes:
                    raise too_large(max_bytes)
                yield out
            if decompressor.eof:  # the leftover input is in unused_data (and also in unconsumed_tail)
                data, decompressor = decompressor.unused_data, zlib.decompressobj(wbits=31)
                if not data.startswith(GZIP_MAGIC):
                    between = data
                    break
            else:
                data = decompressor.unconsumed_tail
    if between is None or (between and GZIP_MAGIC.startswith(between)):
        raise FetchFailed("The gzip data ended early (truncated download?).")


def too_large(max_bytes: int) -> FetchFailed:
    return FetchFailed(f"The guide is larger than EPG_MAX_BYTES ({max_bytes:,} bytes after decompression); "
                       "nothing was imported.")


def _limited(chunks: Iterator[bytes], max_bytes: int) -> Iterator[bytes]:
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > max_bytes:
            raise too_large(max_bytes)
        yield chunk


def xml_bytes(chunks: Iterable[bytes], *, max_bytes: int) -> Iterator[bytes]:
    """The decompressed document in chunks; FetchFailed when it exceeds ``max_bytes`` or gzip is broken."""
    stream: Iterator[bytes] = iter(chunks)
    for _ in range(MAX_LAYERS):
        head, stream = _peek(stream, len(GZIP_MAGIC))
        if head != GZIP_MAGIC:
            break
        stream = _gunzip(stream, max_bytes)
    return _limited(stream, max_bytes)
