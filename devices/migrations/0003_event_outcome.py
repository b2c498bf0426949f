"""Each history event carries its outcome and, for a failure, its kind.

The former kinds "claim_failed" and "unclaim_failed" become "claimed"/"unclaimed" with the outcome
"failed" (an outcome unknown when the recorded message said so).
"""

from django.db import migrations, models

FORMER_KINDS = {"claim_failed": "claimed", "unclaim_failed": "unclaimed"}


def split_failed_kinds(apps, schema_editor):
    DeviceEvent = apps.get_model("devices", "DeviceEvent")
    for former, kind in FORMER_KINDS.items():
        DeviceEvent.objects.filter(kind=former, details__error__icontains="may or may not").update(
            kind=kind, outcome="unknown", failure_kind="outcome_unknown"
        )
        DeviceEvent.objects.filter(kind=former).update(kind=kind, outcome="failed", failure_kind="other")


def join_failed_kinds(apps, schema_editor):
    DeviceEvent = apps.get_model("devices", "DeviceEvent")
    for former, kind in FORMER_KINDS.items():
        DeviceEvent.objects.filter(kind=kind, outcome__in=["failed", "unknown"]).update(kind=former)


class Migration(migrations.Migration):
    dependencies = [
        ("devices", "0002_lighter_sync_writes"),
    ]

    operations = [
        migrations.AddField(
            model_name="deviceevent",
            name="failure_kind",
            field=models.CharField(
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
        migrations.AddField(
            model_name="deviceevent",
            name="outcome",
            field=models.CharField(
                choices=[
                    ("succeeded", "Succeeded"),
                    ("failed", "Failed"),
                    ("unknown", "Outcome unknown"),
                    ("noop", "Nothing to change"),
                ],
                default="succeeded",
                max_length=12,
            ),
        ),
        migrations.AlterField(
            model_name="deviceevent",
            name="kind",
            field=models.CharField(
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
        migrations.RunPython(split_failed_kinds, join_failed_kinds),
    ]
