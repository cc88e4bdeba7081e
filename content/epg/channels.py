"""The channels a source's guide lists (``EpgSourceChannel``), stored by each successful import."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from content.models import EpgSource, EpgSourceChannel

BATCH_SIZE = 1000


def channel_list_digest(channels: Iterable[tuple[str, list[str]]]) -> str:
    """The digest of a list of XMLTV channels as ``(id, display names in file order)``, whatever their order: what
    the guided mapping's suggestions depend on (``content.epg.mapping``), so equal lists give equal digests and any
    change of an id or a name another. ``""`` for an empty list (nothing to suggest from).

    Migration 0011 holds a copy of this computation: change both, or cached suggestions are recomputed once per
    request instead of once per import for sources stored before."""
    entries = sorted((channel_id, list(names)) for channel_id, names in channels)
    if not entries:
        return ""
    text = json.dumps(entries, ensure_ascii=False, separators=(",", ":"))
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=20).hexdigest()


def replace_source_channels(source_id: int, listing: list[tuple[str, list, str, int, bool]]) -> bool:
    """Replace the stored XMLTV channels of a source by ``listing`` (:meth:`.xmltv.XmltvParser.channel_listing`)
    and record the digest of their ids and names on the source (:func:`channel_list_digest`); call it inside the
    import's merge transaction, so the digest always describes the stored list. Returns whether the ids or names
    changed (the suggestions of the guided mapping are then computed anew)."""
    EpgSourceChannel.objects.filter(epg_source_id=source_id).delete()
    EpgSourceChannel.objects.bulk_create(
        (EpgSourceChannel(epg_source_id=source_id, xmltv_id=channel_id, display_names=names, icon=icon,
                          program_count=count, listed=listed)
         for channel_id, names, icon, count, listed in listing), batch_size=BATCH_SIZE)
    digest = channel_list_digest((channel_id, [name for name, _ in names]) for channel_id, names, *_ in listing)
    return bool(EpgSource.objects.filter(pk=source_id).exclude(channels_digest=digest)
                .update(channels_digest=digest))
