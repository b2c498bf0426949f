# The move action (issue 24): the history's "moved" events.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("devices", "0008_order_part_keys"),
    ]

    operations = [
        migrations.AlterField(
            model_name="deviceevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("claimed", "Claimed"),
                    ("unclaimed", "Unclaimed"),
                    ("metadata_changed", "Metadata changed"),
                    ("moved", "Moved"),
                    ("first_seen", "First seen"),
                    ("drift_unclaimed", "Found unclaimed outside the portal"),
                    ("drift_claimed", "Found claimed outside the portal"),
                    ("sim_lock_claimed", "SIM-lock claimed"),
                    ("sim_lock_unclaimed", "SIM-lock unclaimed"),
                ],
                max_length=24,
            ),
        ),
    ]
