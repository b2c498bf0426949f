"""The filters' manufacturers and models in a table of their own, filled from the cache once."""

from django.db import migrations, models


def fill(apps, schema_editor):
    """The pairs the cache holds today (one DISTINCT, once)."""
    Device = apps.get_model("devices", "Device")
    DeviceModel = apps.get_model("devices", "DeviceModel")
    pairs = Device.objects.order_by().values_list("manufacturer", "model").distinct()
    DeviceModel.objects.bulk_create(
        [DeviceModel(manufacturer=make, model=model) for make, model in pairs if make or model],
        ignore_conflicts=True,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("devices", "0004_portal_changes_and_folded_keys"),
    ]

    operations = [
        migrations.CreateModel(
            name="DeviceModel",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("manufacturer", models.CharField(max_length=128)),
                ("model", models.CharField(max_length=128)),
            ],
            options={
                "ordering": ["manufacturer", "model"],
                "constraints": [
                    models.UniqueConstraint(fields=("manufacturer", "model"), name="devicemodel_unique")
                ],
            },
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
