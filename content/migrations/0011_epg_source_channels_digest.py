"""The digest of each source's stored XMLTV channels, the key of the guided mapping's cached suggestions."""

import hashlib
import json

from django.db import migrations, models


def channel_list_digest(channels):
    """A frozen copy of ``content.epg.channels.channel_list_digest`` (a migration never imports the code it
    outlives)."""
    entries = sorted((channel_id, list(names)) for channel_id, names in channels)
    if not entries:
        return ""
    text = json.dumps(entries, ensure_ascii=False, separators=(",", ":"))
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=20).hexdigest()


def record_digests(apps, schema_editor):
    EpgSource = apps.get_model("content", "EpgSource")
    EpgSourceChannel = apps.get_model("content", "EpgSourceChannel")
    for source_id in EpgSourceChannel.objects.order_by().values_list("epg_source_id", flat=True).distinct():
        rows = EpgSourceChannel.objects.filter(epg_source_id=source_id).values_list("xmltv_id", "display_names")
        digest = channel_list_digest((xmltv_id, [name for name, _ in names]) for xmltv_id, names in rows)
        EpgSource.objects.filter(pk=source_id).update(channels_digest=digest)


class Migration(migrations.Migration):

    dependencies = [
        ('content', '0010_epg_source_channels'),
    ]

    operations = [
        migrations.AddField(
            model_name='epgsource',
            name='channels_digest',
            field=models.CharField(blank=True, default='', help_text='Digest of the ids and names of the stored XMLTV channels.', max_length=64),
        ),
        migrations.RunPython(record_digests, migrations.RunPython.noop),
    ]
