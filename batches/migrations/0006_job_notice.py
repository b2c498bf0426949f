# The emails of a job that ended (batches.emails): one row per job and recipient, sent at most once.

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("batches", "0005_chunk_holder_and_reconciliation"),
    ]

    operations = [
        migrations.CreateModel(
            name="JobEmail",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("starter", "To the person who sent the job"),
                            ("customer", "To the customer's notification addresses"),
                        ],
                        max_length=12,
                    ),
                ),
                (
                    "customer_id",
                    models.BigIntegerField(
                        blank=True, help_text="The customer told (customer emails).", null=True
                    ),
                ),
                (
                    "recipients",
                    models.JSONField(default=list, help_text="The addresses, as they were when it was made."),
                ),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("waiting", "Waiting for the job to end"),
                            ("pending", "To send"),
                            ("sending", "Being sent"),
                            ("sent", "Sent"),
                            ("failed", "Not sent"),
                        ],
                        default="pending",
                        max_length=12,
                    ),
                ),
                ("attempts", models.PositiveSmallIntegerField(default=0)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "due_at",
                    models.DateTimeField(blank=True, help_text="When to try sending it (again).", null=True),
                ),
                ("attempted_at", models.DateTimeField(blank=True, null=True)),
                ("sent_at", models.DateTimeField(blank=True, null=True)),
                ("last_error", models.TextField(blank=True)),
                (
                    "job",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="emails",
                        to="batches.batchjob",
                    ),
                ),
            ],
            options={
                "ordering": ["job", "id"],
                "indexes": [models.Index(fields=["state", "due_at"], name="jobemail_due_idx")],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("kind", "starter")),
                        fields=("job",),
                        name="jobemail_one_to_starter",
                    ),
                    models.UniqueConstraint(
                        condition=models.Q(("kind", "customer")),
                        fields=("job", "customer_id"),
                        name="jobemail_one_per_customer",
                    ),
                ],
            },
        ),
    ]
