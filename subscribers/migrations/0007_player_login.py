"""players.md §2: each subscriber's ``login`` (its full phone number until changed) and player password."""

from django.db import migrations, models

import subscribers.models


def fill(apps, schema_editor):
    Subscriber = apps.get_model("subscribers", "Subscriber")
    batch = []
    for subscriber in Subscriber.objects.only("id", "full_phone").iterator(chunk_size=2000):
        subscriber.login = subscriber.full_phone
        subscriber.player_password = subscribers.models.new_player_password()
        batch.append(subscriber)
        if len(batch) == 2000:
            Subscriber.objects.bulk_update(batch, ["login", "player_password"])
            batch = []
    Subscriber.objects.bulk_update(batch, ["login", "player_password"])


class Migration(migrations.Migration):

    dependencies = [("subscribers", "0006_devices")]

    operations = [
        migrations.AddField("subscriber", "login", models.CharField(default="", max_length=64), preserve_default=False),
        migrations.AddField("subscriber", "player_password",
                            models.CharField(default=subscribers.models.new_player_password, max_length=32)),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
        migrations.AddConstraint("subscriber", models.UniqueConstraint(
            fields=("portal", "login"), name="subscriber_login_unique_in_portal")),
    ]
