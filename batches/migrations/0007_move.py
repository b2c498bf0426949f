# The move action (issue 24): a chunk's phase, the row's former customer, half-done counts.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("batches", "0006_job_notice"),
        ("customers", "0004_name_folded_byte_order"),
    ]

    operations = [
        migrations.AddField(
            model_name="batchchunk",
            name="phase",
            field=models.CharField(
                blank=True,
                choices=[
                    ("", "Whole change"),
                    ("unclaim", "Unclaim (first half of a move)"),
                    ("claim", "Claim (second half of a move)"),
                ],
                default="",
                max_length=8,
            ),
        ),
        migrations.AddField(
            model_name="batchchunk",
            name="unclaimed_at",
            field=models.DateTimeField(
                blank=True,
                help_text="Moves: when the unclaims of its rows were recorded (the moment the history gives a row whose claim then fails).",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="batchitem",
            name="from_customer_id",
            field=models.BigIntegerField(
                blank=True, help_text="Moves: the customer that held the device at the check.", null=True
            ),
        ),
        migrations.AddField(
            model_name="batchitem",
            name="half_done",
            field=models.BooleanField(
                db_default=False,
                default=False,
                help_text="Moves: unclaimed, then the claim failed; the device is left unclaimed.",
            ),
        ),
        migrations.AddField(
            model_name="batchjob",
            name="from_customer",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                help_text="Moves: only devices this customer holds are moved (empty: any customer's).",
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="customers.customer",
            ),
        ),
        migrations.AddField(
            model_name="batchjob",
            name="half_done",
            field=models.PositiveIntegerField(
                default=0, help_text="Moves: rows unclaimed whose claim then failed (counted in failed too)."
            ),
        ),
        migrations.AlterField(
            model_name="batchjob",
            name="action",
            field=models.CharField(
                choices=[
                    ("claim", "Claim"),
                    ("unclaim", "Unclaim"),
                    ("metadata", "Set metadata"),
                    ("move", "Move to another customer"),
                ],
                max_length=12,
            ),
        ),
    ]
