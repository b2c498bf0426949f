"""The reports' rollups, orders and weekly-email subscriptions. Existing history is counted in by
``manage.py reports_rebuild``."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import devices.models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("devices", "0006_event_references"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="DailyActivity",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateField()),
                (
                    "customer_id",
                    models.BigIntegerField(default=0, help_text="The customer's company id; 0: none."),
                ),
                (
                    "user_id",
                    models.BigIntegerField(default=0, help_text="The person's user id; 0: none (sync)."),
                ),
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
                    "source",
                    models.CharField(
                        choices=[("ui", "Portal"), ("batch", "Batch"), ("sync", "Sync")], max_length=8
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
                (
                    "failure_kind",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("invalid_identifier", "Invalid device identifier"),
                            ("other_customer", "Claimed by another customer"),
                            ("other_reseller", "Claimed by another reseller"),
                            ("vendor_customer", "Customer belongs to a vendor"),
                            ("not_claimed", "Not claimed"),
                            ("not_ours", "Not this reseller's to change"),
                            ("not_found", "Unknown to zero-touch"),
                            ("section_type", "Wrong section type"),
                            ("invalid_token", "Invalid or revoked pre-provisioning token"),
                            ("limit_exceeded", "Device limit exceeded"),
                            ("temporary", "Temporary problem at zero-touch"),
                            ("outcome_unknown", "Outcome unknown"),
                            ("other", "Other error"),
                        ],
                        max_length=20,
                    ),
                ),
                ("count", models.PositiveBigIntegerField(default=0)),
            ],
            options={
                "verbose_name_plural": "daily activity",
                "indexes": [
                    models.Index(
                        fields=[
                            "customer_id",
                            "day",
                            "kind",
                            "outcome",
                            "source",
                            "user_id",
                            "failure_kind",
                            "count",
                        ],
                        name="dailyactivity_customer_idx",
                    )
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("day", "customer_id", "user_id", "kind", "source", "outcome", "failure_kind"),
                        name="dailyactivity_key",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="DailyModelActivity",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateField()),
                ("customer_id", models.BigIntegerField(default=0)),
                ("user_id", models.BigIntegerField(default=0)),
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
            options={
                "verbose_name_plural": "daily model activity",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("day", "customer_id", "user_id", "manufacturer", "model", "kind", "outcome"),
                        name="dailymodelactivity_key",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="Order",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("number", devices.models.ByteOrderCharField(max_length=128, unique=True)),
                (
                    "customer_id",
                    models.BigIntegerField(default=0, help_text="The customer of its latest claim."),
                ),
                ("claimed", models.PositiveIntegerField(default=0)),
                ("failed", models.PositiveIntegerField(default=0)),
                ("unclaimed", models.PositiveIntegerField(default=0)),
                ("has_failures", models.BooleanField(default=False)),
                ("first_at", models.DateTimeField()),
                ("last_at", models.DateTimeField()),
            ],
            options={
                "ordering": ["-has_failures", "-last_at", "number"],
                "indexes": [
                    models.Index(fields=["has_failures", "last_at"], name="order_failures_first_idx")
                ],
            },
        ),
        migrations.CreateModel(
            name="ReportSubscription",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("weekly_summary", models.BooleanField(default=True)),
                (
                    "last_sent_week",
                    models.DateField(
                        blank=True,
                        help_text="The Monday of the last week summarised: a week is sent once.",
                        null=True,
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "user",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="report_subscription",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="OrderLine",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "device_key",
                    models.CharField(
                        help_text="The device's identifier (its id when it has none): one line per device.",
                        max_length=140,
                    ),
                ),
                ("device_id", models.BigIntegerField(blank=True, null=True)),
                ("identifier", models.CharField(blank=True, max_length=128)),
                ("customer_id", models.BigIntegerField(default=0)),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("claimed", "Claimed"),
                            ("failed", "Failed"),
                            ("unclaimed", "Unclaimed again"),
                        ],
                        max_length=12,
                    ),
                ),
                (
                    "failure_kind",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("invalid_identifier", "Invalid device identifier"),
                            ("other_customer", "Claimed by another customer"),
                            ("other_reseller", "Claimed by another reseller"),
                            ("vendor_customer", "Customer belongs to a vendor"),
                            ("not_claimed", "Not claimed"),
                            ("not_ours", "Not this reseller's to change"),
                            ("not_found", "Unknown to zero-touch"),
                            ("section_type", "Wrong section type"),
                            ("invalid_token", "Invalid or revoked pre-provisioning token"),
                            ("limit_exceeded", "Device limit exceeded"),
                            ("temporary", "Temporary problem at zero-touch"),
                            ("outcome_unknown", "Outcome unknown"),
                            ("other", "Other error"),
                        ],
                        max_length=20,
                    ),
                ),
                ("updated_at", models.DateTimeField()),
                (
                    "order",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="lines", to="reports.order"
                    ),
                ),
            ],
            options={
                "ordering": ["order", "device_key"],
                "constraints": [
                    models.UniqueConstraint(fields=("order", "device_key"), name="orderline_key")
                ],
            },
        ),
    ]
