from django.db import migrations


def generate_logo_renditions(apps, schema_editor):
    """The renditions of every logo stored before there were any, made as an upload makes them."""
    from content.logos import make_renditions

    Channel = apps.get_model("content", "Channel")
    LogoRendition = apps.get_model("content", "LogoRendition")
    for channel in Channel.objects.exclude(logo_etag="").only("id", "logo").iterator(chunk_size=100):
        try:
            renditions = make_renditions(bytes(channel.logo))
        except Exception:  # noqa: BLE001 - a stored logo was verified; if one still cannot be scaled, its
            continue  # original is served for every size (as for a size it is not wider than)
        LogoRendition.objects.bulk_create(
            LogoRendition(channel_id=channel.id, size=rendition.size, image=rendition.image,
                          content_type=rendition.content_type, width=rendition.width, height=rendition.height)
            for rendition in renditions)


class Migration(migrations.Migration):

    dependencies = [
        ('content', '0005_logo_rendition'),
    ]

    operations = [
        migrations.RunPython(generate_logo_renditions, migrations.RunPython.noop),
    ]
