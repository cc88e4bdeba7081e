"""Channel logos: verified with Pillow, stored with an ETag and scaled once to the renditions lists and players
ask for (``LogoSize``: 64, 160 and 512 pixels wide)."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from portals.validators import LOGO_FORMATS, decode_logo, decode_logo_data_uri

from .models import LOGO_WIDTHS, Channel, LogoRendition

RENDITION_QUALITY = 88  # JPEG and WebP renditions; PNG ones are lossless


@dataclass(frozen=True)
class Rendition:
    """A logo scaled to one ``LogoSize``, encoded and ready to store."""

    size: str
    image: bytes
    content_type: str
    width: int
    height: int


def _has_transparency(image) -> bool:
    """Whether any pixel is not fully opaque (an alpha channel that is all opaque does not count)."""
    if image.mode not in ("RGBA", "LA", "PA") and "transparency" not in image.info:
        return False
    return image.convert("RGBA").getchannel("A").getextrema()[0] < 255


def _encode(image, image_format: str) -> bytes:
    out = io.BytesIO()
    if image_format == "PNG":
        image.save(out, "PNG", optimize=True)
    else:
        image.save(out, image_format, quality=RENDITION_QUALITY)
    return out.getvalue()


def make_renditions(data: bytes) -> list[Rendition]:
    """The renditions of verified logo bytes, widest first: one per ``LogoSize`` the original is wider than.

    Each keeps the original's aspect ratio (height rounded, at least 1 pixel) and the orientation its EXIF data
    asks for. A size the original is not wider than gets none — the original is served for it as it is, never
    upscaled. An image with transparent pixels gives PNG renditions (transparency kept); any other keeps the
    original's format (PNG, JPEG or WebP).
    """
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as opened:
        original_format = opened.format
        image = ImageOps.exif_transpose(opened)
    transparent = _has_transparency(image)
    image_format = "PNG" if transparent else original_format
    image = image.convert("RGBA" if transparent else "RGB")
    renditions = []
    for size, width in sorted(LOGO_WIDTHS.items(), key=lambda item: -item[1]):
        if image.width <= width:
            continue
        height = max(1, round(image.height * width / image.width))
        # Each from the next wider one: far faster than from a 4096-pixel original, and as sharp at these sizes.
        image = image.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
        renditions.append(Rendition(str(size), _encode(image, image_format), LOGO_FORMATS[image_format],
                                    width, height))
    return renditions


def prepare_logo(value: bytes | str) -> dict:
    """Model field values for a new logo given as uploaded bytes or a ``data:image/…;base64,`` string, and its
    renditions under ``renditions`` (for :func:`store_renditions`).

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
        "renditions": make_renditions(data),
    }


NO_LOGO = {"logo": None, "logo_content_type": "", "logo_etag": "", "renditions": []}


def store_renditions(channel: Channel, renditions: list[Rendition]) -> None:
    """Replace the channel's logo renditions by ``renditions`` (none removes them); call it in the transaction
    that stores the logo, so that the logo and its renditions change together."""
    LogoRendition.objects.filter(channel=channel).delete()
    LogoRendition.objects.bulk_create(
        LogoRendition(channel=channel, size=rendition.size, image=rendition.image,
                      content_type=rendition.content_type, width=rendition.width, height=rendition.height)
        for rendition in renditions)
