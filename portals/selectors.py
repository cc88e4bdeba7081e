"""Reads of portals shared by several callers."""

from catena_site.ids import InvalidId, decode_id

from .models import Portal


def portal_by_id_or_name(value: str) -> Portal | None:
    """A portal named by its 12-character ID or its technical name (for command-line tools)."""
    try:
        return Portal.objects.filter(pk=decode_id(value)).first()
    except InvalidId:
        return Portal.objects.filter(name=value).first()
