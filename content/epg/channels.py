"""The channels a source's guide lists (``EpgSourceChannel``), stored by each successful import."""

from __future__ import annotations

from content.models import EpgSourceChannel

BATCH_SIZE = 1000


def replace_source_channels(source_id: int, listing: list[tuple[str, list, str, int, bool]]) -> int:
    """Replace the stored XMLTV channels of a source by ``listing`` (:meth:`.xmltv.XmltvParser.channel_listing`);
    call it inside the import's merge transaction. Returns how many are stored."""
    EpgSourceChannel.objects.filter(epg_source_id=source_id).delete()
    EpgSourceChannel.objects.bulk_create(
        (EpgSourceChannel(epg_source_id=source_id, xmltv_id=channel_id, display_names=names, icon=icon,
                          program_count=count, listed=listed)
         for channel_id, names, icon, count, listed in listing), batch_size=BATCH_SIZE)
    return len(listing)
