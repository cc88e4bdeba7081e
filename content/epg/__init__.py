"""The XMLTV importer: fetch a guide over HTTP as a stream, parse it incrementally, store it in bulk.

``guard``    refuses URLs that resolve to private, loopback, link-local or multicast addresses;
``http``     downloads with redirects, a deadline and a size limit, yielding the body in chunks;
``decode``   decompresses gzip (detected by magic bytes) in bounded chunks with a running total;
``xmltv``    turns the byte stream into programmes (hardened expat, times in UTC, skips counted);
``store``    replaces the source's programmes in one transaction (``pgstore``: COPY on PostgreSQL);
``importer`` runs one fetch end to end and reports its figures.
"""

from .errors import FetchFailed, FetchTimedOut

__all__ = ["FetchFailed", "FetchTimedOut"]
