"""Channel logos: verified with Pillow, stored with an ETag and a small thumbnail for list screens."""

from __future__ import annotations

import hashlib
import io

from django.core.exceptions import ValidationError

from portals.validators import decode_logo, decode_logo_data_uri

THUMBNAIL_SIZE = (64, 64)


def make_thumbnail(data: bytes) -> bytes:
    """A PNG of at most 64×64 pixels, for tables that show many logos."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image = image.convert("RGBA")
        image.thumbnail(THUMBNAIL_SIZE)
        out = io.BytesIO()
        image.save(out, "PNG", optimize=True)
        return out.getvalue()


def prepare_logo(value: bytes | str) -> dict:
    """Model field values for a new logo given as uploaded bytes or a ``data:image/…;base64,`` string.

    Raises ``ValidationError`` (PNG, JPEG or WebP only; ≤ 1 MB; ≤ 4096×4096) before anything is stored.
    """
    if isinstance(value, (bytes, bytearray)):
        data, content_type = decode_logo(bytes(value))
    elif isinstance(value, str):
        data, content_type = decode_logo_data_uri(value)
    else:
        raise ValidationError("Logo must be a data:image/…;base64, string.")
    return {
        "logo": data,
        "logo_content_type": content_type,
        "logo_etag": hashlib.sha256(data).hexdigest()[:32],
        "logo_thumbnail": make_thumbnail(data),
    }


NO_LOGO = {"logo": None, "logo_content_type": "", "logo_etag": "", "logo_thumbnail": None}
