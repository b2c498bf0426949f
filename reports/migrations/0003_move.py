# The move action (issue 24): the rollups count "moved" events by their kind.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0002_fleet_counts_and_faster_reads"),
    ]

    operations = [
        migrations.AlterField(
            model_name="dailyactivity",
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
        migrations.AlterField(
            model_name="dailymodelactivity",
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
        migrations.AlterField(
            model_name="dailymodeltotal",
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
