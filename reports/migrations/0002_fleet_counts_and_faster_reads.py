"""Faster report reads: counts by model for everyone together, devices per customer counted every
few minutes, and indexes that let a section read a year of rollups from the index alone."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0001_rollups_and_orders"),
    ]

    operations = [
        migrations.CreateModel(
            name="DailyModelTotal",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateField()),
                ("manufacturer", models.CharField(blank=True, max_length=128)),
                ("model", models.CharField(blank=True, max_length=128)),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("claimed", "Claimed"),
                            ("unclaimed", "Unclaimed"),
                            ("metadata_changed", "Metadata changed"),
                            ("first_seen", "First seen"),
                            ("drift_unclaimed", "Found unclaimed outside the portal"),
                            ("drift_claimed", "Found claimed outside the portal"),
                        ],
                        max_length=24,
                    ),
                ),
                (
                    "outcome",
                    models.CharField(
                        choices=[
                            ("succeeded", "Succeeded"),
                            ("failed", "Failed"),
                            ("unknown", "Outcome unknown"),
                            ("noop", "Nothing to change"),
                        ],
                        max_length=12,
                    ),
                ),
                ("count", models.PositiveBigIntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name="FleetCount",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("taken_at", models.DateTimeField(db_index=True)),
                ("customer_id", models.BigIntegerField(default=0)),
                ("devices", models.PositiveIntegerField()),
            ],
        ),
        migrations.AddIndex(
            model_name="dailyactivity",
            index=models.Index(
                fields=[
                    "day",
                    "kind",
                    "outcome",
                    "source",
                    "customer_id",
                    "user_id",
                    "failure_kind",
                    "count",
                ],
                name="dailyactivity_covering_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="dailymodelactivity",
            index=models.Index(
                fields=["day", "kind", "outcome", "customer_id", "user_id", "manufacturer", "model", "count"],
                name="dailymodel_covering_idx",
            ),
        ),
        migrations.AddConstraint(
            model_name="dailymodeltotal",
            constraint=models.UniqueConstraint(
                fields=("day", "manufacturer", "model", "kind", "outcome"), name="dailymodeltotal_key"
            ),
        ),
    ]
