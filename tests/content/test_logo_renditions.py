"""Logo renditions: small, medium and large (64, 160 and 512 pixels wide), made once per upload, served like the
logo itself, gone with it."""

from __future__ import annotations

import io

import pytest
from django.apps import apps
from PIL import Image

from content.models import Channel, LogoRendition
from tests.conftest import API
from tests.content.helpers import data_uri, image_bytes
from tests.content.test_channels_api import make_channel

SIZES = ("small", "medium", "large")


def picture(size, fmt="PNG", *, transparent=False, orientation=None) -> bytes:
    """An image whose left half is blue and right half red — or transparent."""
    width, height = size
    image = Image.new("RGBA" if transparent else "RGB", size, (10, 120, 200, 255) if transparent else (10, 120, 200))
    image.paste((0, 0, 0, 0) if transparent else (200, 20, 20), (width // 2, 0, width, height))
    out = io.BytesIO()
    if orientation:
        exif = Image.Exif()
        exif[0x0112] = orientation
        image.save(out, fmt, exif=exif)
    else:
        image.save(out, fmt)
    return out.getvalue()


def opened(response) -> Image.Image:
    return Image.open(io.BytesIO(response.content))


def post_channel(api, raw: bytes, kind: str = "png", name: str = "news") -> dict:
    response = api.post(f"{API}/channels", {"name": name, "title": "News", "logo": data_uri(raw, kind)}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def renditions(channel_id) -> dict:
    return {r.size: (r.id, bytes(r.image)) for r in LogoRendition.objects.filter(channel_id=channel_id)}


def test_each_rendition_is_scaled_to_its_width_with_the_aspect_kept(api, portal):
    body = post_channel(api, picture((1000, 500)))
    channel_id = body["channelId"]
    assert body["logoUrls"] == {size: f"{API}/channels/{channel_id}/logo/{size}" for size in SIZES}
    assert body["logoUrl"] == f"{API}/channels/{channel_id}/logo"  # the original stays
    for size, expected in [("small", (64, 32)), ("medium", (160, 80)), ("large", (512, 256))]:
        response = api.get(body["logoUrls"][size])
        assert response.status_code == 200 and response["Content-Type"] == "image/png"
        image = opened(response)
        assert (image.format, image.size) == ("PNG", expected)
        assert image.convert("RGB").getpixel((0, 0)) == (10, 120, 200)
        assert image.convert("RGB").getpixel((expected[0] - 1, 0)) == (200, 20, 20)
    assert opened(api.get(body["logoUrl"])).size == (1000, 500)
    assert api.get(f"{API}/channels/{channel_id}").json()["logoUrls"] == body["logoUrls"]


def test_a_channel_without_a_logo_has_no_logo_urls_and_its_renditions_are_404(api, portal):
    channel = make_channel(portal)
    assert api.get(f"{API}/channels/{channel.public_id}").json()["logoUrls"] is None
    for size in SIZES:
        response = api.get(f"{API}/channels/{channel.public_id}/logo/{size}")
        assert response.status_code == 404 and response.json()["message"] == "This channel has no logo."


def test_a_smaller_original_is_served_as_it_is_for_the_sizes_it_is_not_wider_than(api, portal):
    raw = picture((100, 40))
    body = post_channel(api, raw)
    original = api.get(body["logoUrl"])
    small = api.get(body["logoUrls"]["small"])
    assert opened(small).size == (64, 26)  # 40 × 64/100 = 25.6, rounded
    for size in ("medium", "large"):
        response = api.get(body["logoUrls"][size])
        assert response.status_code == 200 and response.content == raw  # never upscaled
        assert response["ETag"] == original["ETag"] and response["Content-Type"] == "image/png"
    assert set(renditions(Channel.objects.get().id)) == {"small"}


@pytest.mark.parametrize(("fmt", "kind"), [("PNG", "png"), ("WEBP", "webp")])
def test_a_logo_with_transparency_gets_png_renditions_that_keep_it(api, portal, fmt, kind):
    body = post_channel(api, picture((1024, 256), fmt, transparent=True), kind)
    for size, width in [("small", 64), ("medium", 160), ("large", 512)]:
        response = api.get(body["logoUrls"][size])
        assert response["Content-Type"] == "image/png"
        image = opened(response)
        assert (image.format, image.mode, image.width) == ("PNG", "RGBA", width)
        assert image.getpixel((0, 0))[3] == 255  # the opaque half
        assert image.getpixel((width - 1, 0))[3] == 0  # the transparent half


@pytest.mark.parametrize(("fmt", "kind", "content_type"), [("PNG", "png", "image/png"),
                                                           ("JPEG", "jpeg", "image/jpeg"),
                                                           ("WEBP", "webp", "image/webp")])
def test_an_opaque_logo_keeps_its_format(api, portal, fmt, kind, content_type):
    body = post_channel(api, picture((800, 600), fmt), kind)
    for size in SIZES:
        response = api.get(body["logoUrls"][size])
        assert response["Content-Type"] == content_type and opened(response).format == fmt


def test_renditions_are_turned_as_the_photos_orientation_says(api, portal):
    body = post_channel(api, picture((400, 200), "JPEG", orientation=6), "jpeg")  # shown turned: 200×400
    assert opened(api.get(body["logoUrls"]["small"])).size == (64, 128)
    assert opened(api.get(body["logoUrls"]["medium"])).size == (160, 320)
    assert opened(api.get(body["logoUrls"]["large"])).size == (400, 200)  # the original, as stored


def test_renditions_are_served_with_the_caching_headers_of_the_logo(api, portal):
    body = post_channel(api, picture((600, 600)))
    original = api.get(body["logoUrl"])
    etags = {original["ETag"]}
    for size in SIZES:
        url = body["logoUrls"][size]
        response = api.get(url)
        assert response["Cache-Control"] == original["Cache-Control"] == "public, max-age=300, must-revalidate"
        etags.add(response["ETag"])
        again = api.get(url, HTTP_IF_NONE_MATCH=response["ETag"])
        assert again.status_code == 304 and again.content == b"" and again["ETag"] == response["ETag"]
        assert api.get(url, HTTP_IF_NONE_MATCH=original["ETag"]).status_code == 200
    assert len(etags) == 4  # each size its own


def test_unknown_sizes_and_other_portals_channels_are_404(api, portal, stranger):
    body = post_channel(api, picture((600, 600)))
    channel_id = body["channelId"]
    assert api.get(f"{API}/channels/{channel_id}/logo/huge").status_code == 404
    assert api.get(f"{API}/channels/AAAAAAAAAAAA/logo/small").status_code == 404
    for size in SIZES:
        assert stranger.get(f"{API}/channels/{channel_id}/logo/{size}").status_code == 404
        assert api.get(f"{API}/channels/{channel_id}/logo/{size}/").status_code == 200  # the optional slash


def test_renditions_are_made_once_per_upload(api, portal):
    raw = picture((600, 300))
    body = post_channel(api, raw)
    channel = Channel.objects.get()
    made = renditions(channel.id)
    assert set(made) == set(SIZES)
    url = f"{API}/channels/{body['channelId']}"
    assert api.put(url, {"title": "News 24"}, format="json").status_code == 200
    assert api.put(url, {"logo": data_uri(raw)}, format="json").status_code == 200  # the same image again
    assert renditions(channel.id) == made
    assert api.put(url, {"logo": data_uri(picture((600, 1200)))}, format="json").status_code == 200
    remade = renditions(channel.id)
    assert set(remade) == set(SIZES) and not {row_id for row_id, _ in remade.values()} & {
        row_id for row_id, _ in made.values()}
    assert opened(api.get(f"{url}/logo/medium")).size == (160, 320)


def test_removing_the_logo_or_the_channel_removes_the_renditions(api, portal):
    body = post_channel(api, picture((600, 300)))
    url = f"{API}/channels/{body['channelId']}"
    response = api.put(url, {"logo": None}, format="json")
    assert response.status_code == 200 and response.json()["logoUrls"] is None
    assert not LogoRendition.objects.exists()
    for size in SIZES:
        assert api.get(f"{url}/logo/{size}").status_code == 404
    body = post_channel(api, picture((600, 300)), name="sport")
    assert LogoRendition.objects.count() == 3
    assert api.delete(f"{API}/channels/{body['channelId']}").status_code == 201
    assert not LogoRendition.objects.exists()


def test_a_refused_logo_keeps_the_stored_one_and_its_renditions(api, portal):
    body = post_channel(api, picture((600, 300)))
    made = renditions(Channel.objects.get().id)
    response = api.put(f"{API}/channels/{body['channelId']}", {"title": "", "logo": data_uri(b"not an image")},
                       format="json")
    assert response.status_code == 400 and set(response.json()["errors"]) == {"title", "logo"}
    assert renditions(Channel.objects.get().id) == made


def test_the_migration_makes_the_renditions_of_logos_stored_before_it(portal):
    from importlib import import_module

    generate = import_module("content.migrations.0006_generate_logo_renditions").generate_logo_renditions
    wide, narrow = picture((1000, 250)), image_bytes((50, 50))
    for name, raw in [("wide", wide), ("narrow", narrow)]:
        Channel.objects.create(portal=portal, name=name, title=name, logo=raw, logo_content_type="image/png",
                               logo_etag=name)
    Channel.objects.create(portal=portal, name="plain", title="Plain")
    generate(apps, None)
    sizes = {(r.channel.name, r.size): (r.width, r.height, r.content_type)
             for r in LogoRendition.objects.select_related("channel")}
    assert sizes == {("wide", "small"): (64, 16, "image/png"), ("wide", "medium"): (160, 40, "image/png"),
                     ("wide", "large"): (512, 128, "image/png")}
    rendition = LogoRendition.objects.get(channel__name="wide", size="large")
    assert Image.open(io.BytesIO(bytes(rendition.image))).size == (512, 128)
