"""What the reports read instead of the raw device history: daily counts, orders, and who asked for
the weekly email.

The counts are kept by ``reports.rollups`` in the transactions that append ``DeviceEvent`` rows, and
``manage.py reports_rebuild`` recomputes them from the history. Their customer and person are plain
ids with 0 for "none" rather than nullable references: an upsert (``INSERT … ON CONFLICT``) needs a
unique key without NULLs on both databases (SQLite has no ``NULLS NOT DISTINCT``), and the rollups
must keep counting a customer the cache dropped or an account that was deleted.
"""

from django.conf import settings
from django.db import models

from core.fields import ByteOrderCharField
from devices.models import DeviceEvent, FailureKind

NONE = 0  # the customer_id / user_id of a count without a customer or a person


class DailyActivity(models.Model):
    """How many events of one kind, source and outcome one person had for one customer on one day."""

    day = models.DateField()
    customer_id = models.BigIntegerField(default=NONE, help_text="The customer's company id; 0: none.")
    user_id = models.BigIntegerField(default=NONE, help_text="The person's user id; 0: none (sync).")
    kind = models.CharField(max_length=24, choices=DeviceEvent.Kind)
    source = models.CharField(max_length=8, choices=DeviceEvent.Source)
    outcome = models.CharField(max_length=12, choices=DeviceEvent.Outcome)
    failure_kind = models.CharField(max_length=20, choices=FailureKind, blank=True)
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "daily activity"
        constraints = [
            # Also the index every report reads by: a range of days, then the rest.
            models.UniqueConstraint(
                fields=["day", "customer_id", "user_id", "kind", "source", "outcome", "failure_kind"],
                name="dailyactivity_key",
            )
        ]
        indexes = [
            # One customer's days, every column a section reads included: a customer's report, and
            # the totals by customer, are read from the index alone.
            models.Index(
                fields=[
                    "customer_id",
                    "day",
                    "kind",
                    "outcome",
                    "source",
                    "user_id",
                    "failure_kind",
                    "count",
                ],
                name="dailyactivity_customer_idx",
            ),
            # Every column a section reads, the count included: a year's range is read from the index
            # alone, without a look-up of each row.
            models.Index(
                fields=[
                    "day",
                    "kind",
                    "outcome",
                    "source",
                    "customer_id",
                    "user_id",
                    "failure_kind",
                    "count",
                ],
                name="dailyactivity_covering_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.kind} {self.outcome}: {self.count}"


class DailyModelActivity(models.Model):
    """The same counts by manufacturer and model (the device's at the time of the event)."""

    day = models.DateField()
    customer_id = models.BigIntegerField(default=NONE)
    user_id = models.BigIntegerField(default=NONE)
    manufacturer = models.CharField(max_length=128, blank=True)
    model = models.CharField(max_length=128, blank=True)
    kind = models.CharField(max_length=24, choices=DeviceEvent.Kind)
    outcome = models.CharField(max_length=12, choices=DeviceEvent.Outcome)
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "daily model activity"
        constraints = [
            models.UniqueConstraint(
                fields=["day", "customer_id", "user_id", "manufacturer", "model", "kind", "outcome"],
                name="dailymodelactivity_key",
            )
        ]
        indexes = [
            models.Index(
                fields=["day", "kind", "outcome", "customer_id", "user_id", "manufacturer", "model", "count"],
                name="dailymodel_covering_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.manufacturer} {self.model} {self.kind} {self.outcome}: {self.count}"


class DailyModelTotal(models.Model):
    """The counts by model for everyone together: what the report reads without a customer or
    salesperson filter, a few dozen rows a day instead of thousands to group."""

    day = models.DateField()
    manufacturer = models.CharField(max_length=128, blank=True)
    model = models.CharField(max_length=128, blank=True)
    kind = models.CharField(max_length=24, choices=DeviceEvent.Kind)
    outcome = models.CharField(max_length=12, choices=DeviceEvent.Outcome)
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "manufacturer", "model", "kind", "outcome"], name="dailymodeltotal_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.manufacturer} {self.model} {self.kind} {self.outcome}: {self.count}"


class FleetCount(models.Model):
    """How many devices each customer held in the cache at ``taken_at`` (customer 0: unclaimed).

    Counting a million devices by owner takes a few hundred milliseconds, too long for a report
    section, so beat takes this snapshot every few minutes and the report reads the latest one.
    """

    taken_at = models.DateTimeField(db_index=True)
    customer_id = models.BigIntegerField(default=NONE)
    devices = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.devices} at {self.taken_at}"


class Order(models.Model):
    """One order number and where its devices stand: claimed, failed (and not claimed since), or
    unclaimed again. Counts change with the lines, in the same transaction."""

    number = ByteOrderCharField(max_length=128, unique=True)
    customer_id = models.BigIntegerField(default=NONE, help_text="The customer of its latest claim.")
    claimed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    unclaimed = models.PositiveIntegerField(default=0)
    has_failures = models.BooleanField(default=False)
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()

    class Meta:
        ordering = ["-has_failures", "-last_at", "number"]
        indexes = [models.Index(fields=["has_failures", "last_at"], name="order_failures_first_idx")]

    def __str__(self) -> str:
        return self.number

    @property
    def devices(self) -> int:
        return self.claimed + self.failed + self.unclaimed


class OrderLine(models.Model):
    """One device of an order, in the state its latest claim or unclaim left it."""

    class State(models.TextChoices):
        CLAIMED = "claimed", "Claimed"
        FAILED = "failed", "Failed"
        UNCLAIMED = "unclaimed", "Unclaimed again"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    device_key = models.CharField(
        max_length=140, help_text="The device's identifier (its id when it has none): one line per device."
    )
    device_id = models.BigIntegerField(null=True, blank=True)
    identifier = models.CharField(max_length=128, blank=True)
    customer_id = models.BigIntegerField(default=NONE)
    state = models.CharField(max_length=12, choices=State)
    failure_kind = models.CharField(max_length=20, choices=FailureKind, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["order", "device_key"]
        constraints = [models.UniqueConstraint(fields=["order", "device_key"], name="orderline_key")]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.device_key} {self.state}"


class ReportSubscription(models.Model):
    """A manager (or admin) who asked for the weekly summary by email."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="report_subscription"
    )
    weekly_summary = models.BooleanField(default=True)
    last_sent_week = models.DateField(
        null=True, blank=True, help_text="The Monday of the last week summarised: a week is sent once."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Weekly summary for {self.user}"
