"""Order numbers are searched by any of their parts (``devices.store.ORDER_PART_MIN_LENGTH``): every
device that carries an order number gets its part keys, derived by the same SQL the store uses for
new and changed devices, a few thousand devices a statement."""

from django.db import migrations, models

BATCH = 5000


def derive_order_parts(apps, schema_editor):
    from devices.store import derive_search_keys, forget_search_keys

    Device = apps.get_model("devices", "Device")
    carrying = (
        Device.objects.using(schema_editor.connection.alias)
        .filter(metadata__has_key="ordernumber")
        .order_by("device_id")
        .values_list("device_id", flat=True)
    )
    after = None
    while True:
        page = carrying.filter(device_id__gt=after) if after is not None else carrying
        ids = list(page[:BATCH])
        if not ids:
            return
        # The whole set of keys is forgotten and derived again: the identifier keys come back as
        # they were, the part keys are new.
        forget_search_keys(ids)
        derive_search_keys(ids)
        after = ids[-1]


def forget_order_parts(apps, schema_editor):
    SearchKey = apps.get_model("devices", "SearchKey")
    SearchKey.objects.using(schema_editor.connection.alias).filter(kind="orderpart").delete()


class Migration(migrations.Migration):
    dependencies = [("devices", "0007_event_models_to_fill")]

    operations = [
        migrations.AlterField(
            model_name="searchkey",
            name="kind",
            field=models.CharField(
                choices=[
                    ("imei", "IMEI"),
                    ("imei2", "IMEI 2"),
                    ("meid", "MEID"),
                    ("meid2", "MEID 2"),
                    ("serial", "Serial number"),
                    ("ordernumber", "Order number"),
                    ("orderpart", "Part of an order number"),
                    ("phonenumber", "Phone number"),
                ],
                max_length=12,
            ),
        ),
        migrations.RunPython(derive_order_parts, forget_order_parts),
    ]
