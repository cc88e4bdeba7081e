"""``programId`` follows the manual (issue 13): the programme watched from the archive, null for live viewing.

Live sessions written before got the programme on air at their start; the screens now compute that, so the
stored value is cleared. Archive sessions had none and keep none (their position was not recorded).
"""

from django.db import migrations


def clear_live_program_ids(apps, schema_editor):
    PlaySession = apps.get_model("monitoring", "PlaySession")
    PlaySession.objects.filter(dvr=False, program_id__isnull=False).update(program_id=None)


class Migration(migrations.Migration):

    dependencies = [
        ("monitoring", "0002_play_sessions"),
    ]

    operations = [
        migrations.RunPython(clear_live_program_ids, migrations.RunPython.noop, elidable=True),
    ]
