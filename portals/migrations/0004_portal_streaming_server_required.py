import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("portals", "0003_default_streaming_server")]

    operations = [
        migrations.AlterField(
            model_name="portal",
            name="streaming_server",
            field=models.ForeignKey(help_text="The streaming server that serves this portal's channels.",
                                    on_delete=django.db.models.deletion.PROTECT, related_name="portals",
                                    to="portals.streamingserver"),
        ),
    ]
