"""Device history as the reports' fact table: real references to the customer and the batch job,
events for devices the cache does not hold (the device is then empty and the identifier names it),
and the device's make, model and order number copied onto each event.

``customer_id`` and ``batch_id`` were bare integer columns; they become references without a
database constraint over the very same columns, so only Django's state changes and no table is
rebuilt.
"""

import django.db.models.deletion
from django.db import migrations, models

_IDENTIFIER_FIELDS = ("imei", "meid", "serial_number")


def copy_device_fields(apps, schema_editor):
    """Fill the new columns of the existing history from the devices (and the event's own details)."""
    DeviceEvent = apps.get_model("devices", "DeviceEvent")
    Device = apps.get_model("devices", "Device")
    events = DeviceEvent.objects.order_by("id")
    last = 0
    while True:
        chunk = list(events.filter(id__gt=last)[:2000])
        if not chunk:
            return
        last = chunk[-1].id
        devices = Device.objects.in_bulk({event.device_id for event in chunk if event.device_id})
        for event in chunk:
            device = devices.get(event.device_id)
            named = str(event.details.get("identifier", "")) if isinstance(event.details, dict) else ""
            if device is not None:
                event.manufacturer = device.manufacturer
                event.model = device.model
                event.order_number = str((device.metadata or {}).get("ordernumber", ""))[:128]
                named = named or next(
                    (getattr(device, f) for f in _IDENTIFIER_FIELDS if getattr(device, f)), ""
                )
            event.identifier = (named or str(event.device_id or ""))[:128]
        DeviceEvent.objects.bulk_update(chunk, ["identifier", "manufacturer", "model", "order_number"])


class Migration(migrations.Migration):
    dependencies = [
        ("batches", "0002_lighter_items"),
        ("customers", "0001_initial"),
        ("devices", "0005_device_models"),
    ]

    operations = [
        migrations.AlterField(
            model_name="deviceevent",
            name="device",
            field=models.ForeignKey(
                blank=True,
                help_text="Empty when the cache did not hold the device (then ``identifier`` names it).",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="events",
                to="devices.device",
            ),
        ),
        migrations.AddField(
            model_name="deviceevent",
            name="identifier",
            field=models.CharField(
                blank=True, help_text="The IMEI, MEID or serial number the change named.", max_length=128
            ),
        ),
        migrations.AddField(
            model_name="deviceevent",
            name="manufacturer",
            field=models.CharField(blank=True, max_length=128),
        ),
        migrations.AddField(
            model_name="deviceevent",
            name="model",
            field=models.CharField(blank=True, max_length=128),
        ),
        migrations.AddField(
            model_name="deviceevent",
            name="order_number",
            field=models.CharField(blank=True, max_length=128),
        ),
        # The same columns, now references: Django's state only.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="deviceevent", name="deviceevent_customer_idx"),
                migrations.RemoveField(model_name="deviceevent", name="customer_id"),
                migrations.RemoveField(model_name="deviceevent", name="batch_id"),
                migrations.AddField(
                    model_name="deviceevent",
                    name="customer",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        help_text="The customer the event concerns (claimed for, unclaimed from).",
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="customers.customer",
                    ),
                ),
                migrations.AddField(
                    model_name="deviceevent",
                    name="batch",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        help_text="The batch job the change came from.",
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="batches.batchjob",
                    ),
                ),
                migrations.AddIndex(
                    model_name="deviceevent",
                    index=models.Index(fields=["customer", "-created_at"], name="deviceevent_customer_idx"),
                ),
            ],
            database_operations=[],
        ),
        migrations.AddIndex(
            model_name="deviceevent",
            index=models.Index(
                condition=models.Q(("failure_kind", ""), _negated=True),
                fields=["failure_kind", "-created_at"],
                name="deviceevent_failure_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="deviceevent",
            index=models.Index(
                condition=models.Q(("failure_kind", ""), _negated=True),
                fields=["customer", "failure_kind", "-created_at"],
                name="deviceevent_customer_fail_idx",
            ),
        ),
        migrations.RunPython(copy_device_fields, migrations.RunPython.noop, elidable=True),
    ]
