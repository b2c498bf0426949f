"""Devices remember when the portal last changed them, and search keys are kept in ASCII upper case.

Searching is case-insensitive from here on (``devices.identifiers.fold_search_text``): the stored
keys are folded in place. One key per device and kind means folding cannot make two keys equal.
"""

from django.db import migrations, models


def fold_keys(apps, schema_editor):
    table = schema_editor.quote_name(apps.get_model("devices", "SearchKey")._meta.db_table)
    # On PostgreSQL the value column has the "C" collation, under which upper() folds ASCII only,
    # as SQLite's upper() does.
    schema_editor.execute(f"UPDATE {table} SET value = upper(value) WHERE value <> upper(value)")  # noqa: S608


class Migration(migrations.Migration):
    dependencies = [
        ("devices", "0003_event_outcome"),
    ]

    operations = [
        migrations.AddField(
            model_name="device",
            name="changed_at",
            field=models.DateTimeField(
                blank=True,
                help_text="When the portal last changed it: a sync page read before then is older news.",
                null=True,
            ),
        ),
        # One-way: going back leaves the keys folded (the older release then finds a lower-case
        # serial only when it is typed in upper case).
        migrations.RunPython(fold_keys, migrations.RunPython.noop),
    ]
