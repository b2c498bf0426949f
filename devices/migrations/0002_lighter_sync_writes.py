"""Fewer index entries to write per device, for sync's speed.

Search keys are keyed by (value, device, kind), which is also their search index, with no surrogate
id, no second index and no checked reference to the device: the cheapest rows to write, since sync
writes about three per device. The vendor index keeps vendors' devices only.

Django cannot turn a table's primary key into a composite one in place, so the table is made again
and its rows, which are derived data, are rebuilt from the devices.
"""

import django.db.models.deletion
from django.db import migrations, models

import devices.models

KINDS = [
    ("imei", "IMEI"),
    ("imei2", "IMEI 2"),
    ("meid", "MEID"),
    ("meid2", "MEID 2"),
    ("serial", "Serial number"),
    ("ordernumber", "Order number"),
    ("phonenumber", "Phone number"),
]
IDENTIFIER_KINDS = [
    ("imei", "imei"),
    ("imei2", "imei2"),
    ("meid", "meid"),
    ("meid2", "meid2"),
    ("serial", "serial_number"),
]
METADATA_KINDS = ["ordernumber", "phonenumber"]


def rebuild_search_keys(apps, schema_editor):
    """One key per non-empty identifier and searchable metadata value of every cached device."""
    Device = apps.get_model("devices", "Device")
    SearchKey = apps.get_model("devices", "SearchKey")
    columns = [column for _, column in IDENTIFIER_KINDS]
    devices = Device.objects.using(schema_editor.connection.alias).order_by("device_id")
    keys = []
    for device_id, metadata, *identifiers in devices.values_list("device_id", "metadata", *columns).iterator(
        chunk_size=5000
    ):
        keys += [
            SearchKey(device_id=device_id, kind=kind, value=value)
            for (kind, _), value in zip(IDENTIFIER_KINDS, identifiers, strict=True)
            if value
        ]
        keys += [
            SearchKey(device_id=device_id, kind=name, value=metadata[name][:128])
            for name in METADATA_KINDS
            if metadata.get(name)
        ]
        if len(keys) >= 5000:
            SearchKey.objects.using(schema_editor.connection.alias).bulk_create(keys)
            keys = []
    SearchKey.objects.using(schema_editor.connection.alias).bulk_create(keys)


class Migration(migrations.Migration):
    dependencies = [
        ("devices", "0001_initial"),
    ]

    operations = [
        # Only vendors' devices (the few) in the vendor index: no entry to write for every other device.
        migrations.RemoveIndex(model_name="device", name="device_vendor_idx"),
        migrations.AddIndex(
            model_name="device",
            index=models.Index(
                condition=models.Q(("sold_by_vendor", True)),
                fields=["sold_by_vendor", "device_id"],
                name="device_vendor_idx",
            ),
        ),
        migrations.DeleteModel(name="SearchKey"),
        migrations.CreateModel(
            name="SearchKey",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "value",
                        "device",
                        "kind",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("value", devices.models.ByteOrderCharField(max_length=128)),
                ("kind", models.CharField(choices=KINDS, max_length=12)),
                (
                    "device",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="search_keys",
                        to="devices.device",
                    ),
                ),
            ],
        ),
        migrations.RunPython(rebuild_search_keys, migrations.RunPython.noop),
    ]
