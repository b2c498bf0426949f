# Notices (core.notices): a line for one person about an event, shown until dismissed or its page is opened.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0005_one_outcome_spelling"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Notice",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "key",
                    models.CharField(help_text="The event told, e.g. batches.job.123.ended.", max_length=100),
                ),
                ("text", models.CharField(max_length=500)),
                ("link", models.CharField(blank=True, help_text="A path in the portal.", max_length=500)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                (
                    "seen_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="When it was dismissed, or its page opened: shown no more.",
                        null=True,
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-id"],
                "indexes": [
                    models.Index(
                        condition=models.Q(("seen_at__isnull", True)),
                        fields=["user", "id"],
                        name="notice_unseen_idx",
                    )
                ],
                "constraints": [models.UniqueConstraint(fields=("user", "key"), name="notice_user_key")],
            },
        ),
    ]
