"""Bind every existing portal to the streaming server ``default``, which takes its empty fields from the
``STREAMER_*`` settings: a deployment configured by environment variables keeps working unchanged.

Channel names that two portals already share are not a reason to fail here: ``manage.py check`` lists them
(``portals.E001``) so that an operator can rename one side or move a portal to another server.
"""

from django.db import migrations


def bind_to_default(apps, schema_editor):
    StreamingServer = apps.get_model("portals", "StreamingServer")
    Portal = apps.get_model("portals", "Portal")
    server, _ = StreamingServer.objects.get_or_create(name="default")
    Portal.objects.filter(streaming_server__isnull=True).update(streaming_server=server)


class Migration(migrations.Migration):
    dependencies = [("portals", "0002_streaming_server")]

    operations = [migrations.RunPython(bind_to_default, migrations.RunPython.noop)]
