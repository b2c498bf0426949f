from django.db import migrations, models

# The audit log spelled outcomes as success/failure while the device history spelled them
# succeeded/failed: one spelling now (core.outcomes.Outcome), the history's, which the reports' rollups
# of a million events already store.
RENAMED = {"success": "succeeded", "failure": "failed"}


def rename_outcomes(apps, schema_editor, renamed=RENAMED):
    audit_event = apps.get_model("portal", "AuditEvent")
    for old, new in renamed.items():
        # update(), not save(): the model refuses to change a saved event, and this is the one rewrite.
        audit_event.objects.filter(outcome=old).update(outcome=new)


def restore_outcomes(apps, schema_editor):
    rename_outcomes(apps, schema_editor, renamed={new: old for old, new in RENAMED.items()})


class Migration(migrations.Migration):
    dependencies = [("portal", "0004_cache_table")]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="outcome",
            field=models.CharField(
                choices=[
                    ("succeeded", "Succeeded"),
                    ("failed", "Failed"),
                    ("unknown", "Outcome unknown"),
                    ("noop", "Nothing to change"),
                ],
                default="succeeded",
                max_length=16,
            ),
        ),
        migrations.RunPython(rename_outcomes, restore_outcomes, elidable=False),
    ]
