# Who at a customer is emailed when a batch claims devices for it: the portal's own, never zero-touch's.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0004_name_folded_byte_order"),
    ]

    operations = [
        migrations.AddField(
            model_name="customer",
            name="notification_emails",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="The portal's own, never sent to zero-touch: who at the customer is emailed when a batch claims devices for it.",
            ),
        ),
    ]
