"""The local cache of devices as the zero-touch API knows them, and what happened to each.

A device's identity (``device_id`` and its identifiers) comes from the API and never changes; its
zero-touch claim and metadata are refreshed by sync and by every change the portal makes.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.fields import ByteOrderCharField
from core.outcomes import Outcome
from customers.models import Customer


class DeviceType(models.TextChoices):
    UNSPECIFIED = "DEVICE_TYPE_UNSPECIFIED", "Unspecified"
    ANDROID = "DEVICE_TYPE_ANDROID", "Android"
    CHROME_OS = "DEVICE_TYPE_CHROME_OS", "ChromeOS"


class SectionType(models.TextChoices):
    ZERO_TOUCH = "SECTION_TYPE_ZERO_TOUCH", "Zero-touch"
    SIM_LOCK = "SECTION_TYPE_SIM_LOCK", "SIM lock"


class FailureKind(models.TextChoices):
    """Why a change to a device failed, in groups a person acts on alike. Mapped from the API's error
    (its reason, or its status) and from a batch operation's per-device status, in devices.failures;
    results files and reports group by it."""

    INVALID_IDENTIFIER = "invalid_identifier", "Invalid device identifier"
    CLAIMED_BY_ANOTHER_CUSTOMER = "other_customer", "Claimed by another customer"
    CLAIMED_BY_ANOTHER_RESELLER = "other_reseller", "Claimed by another reseller"
    VENDOR_CUSTOMER = "vendor_customer", "Customer belongs to a vendor"
    NOT_CLAIMED = "not_claimed", "Not claimed"
    NOT_OURS = "not_ours", "Not ours to change"
    NOT_FOUND = "not_found", "Unknown to zero-touch"
    SECTION_TYPE = "section_type", "Wrong section type"
    INVALID_TOKEN = "invalid_token", "Invalid or revoked pre-provisioning token"
    LIMIT_EXCEEDED = "limit_exceeded", "Device limit exceeded"
    TEMPORARY = "temporary", "Temporary problem at zero-touch"
    OUTCOME_UNKNOWN = "outcome_unknown", "Outcome unknown"
    OTHER = "other", "Other error"


class Action(models.TextChoices):
    """What a change asked of a device: the spelling of the one-device page's changes, of batch jobs
    (``BatchJob.action``) and of the audit log's actions (``device.claim``)."""

    CLAIM = "claim", "Claim"
    UNCLAIM = "unclaim", "Unclaim"
    METADATA = "metadata", "Set metadata"
    # A move to another customer: zero-touch refuses to claim a device another customer holds, so a
    # move is made of an unclaim and then a claim; the history records it as one change.
    MOVE = "move", "Move to another customer"

    @property
    def event_kind(self) -> str:
        """The kind of history event this change is recorded as (``DeviceEvent.Kind``)."""
        return {
            Action.CLAIM: DeviceEvent.Kind.CLAIMED,
            Action.UNCLAIM: DeviceEvent.Kind.UNCLAIMED,
            Action.METADATA: DeviceEvent.Kind.METADATA_CHANGED,
            Action.MOVE: DeviceEvent.Kind.MOVED,
        }[self]


class Device(models.Model):
    """One device the API knows, with its current zero-touch claim.

    ``owner`` holds the claim's ``ownerCompanyId`` even when that customer is not (yet) cached,
    hence no database constraint on it. ``claims`` keeps every claim as the API sent it (a device
    may also carry a SIM-lock claim); the zero-touch one is spread into columns for search.
    """

    device_id = models.BigIntegerField(primary_key=True)
    imei = models.CharField("IMEI", max_length=32, blank=True)
    imei2 = models.CharField("IMEI 2", max_length=32, blank=True)
    meid = models.CharField("MEID", max_length=32, blank=True)
    meid2 = models.CharField("MEID 2", max_length=32, blank=True)
    serial_number = models.CharField(max_length=128, blank=True)
    manufacturer = models.CharField(max_length=128, blank=True)
    model = models.CharField(max_length=128, blank=True)
    device_type = models.CharField(max_length=32, choices=DeviceType, default=DeviceType.UNSPECIFIED)
    chrome_os_attested_device_id = models.CharField(max_length=128, blank=True)

    owner = models.ForeignKey(
        Customer,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="devices",
        help_text="The customer of the zero-touch claim; empty when unclaimed.",
    )
    sold_by_vendor = models.BooleanField(
        default=False,
        help_text="Claimed for a vendor's customer (copied from the owner, for fast filtering).",
    )
    reseller_id = models.BigIntegerField(
        null=True, blank=True, help_text="The partner (reseller or vendor) that claimed it."
    )
    section_type = models.CharField(max_length=32, choices=SectionType, blank=True)
    vacation_mode_start_time = models.DateTimeField(null=True, blank=True)
    vacation_mode_expire_time = models.DateTimeField(null=True, blank=True)
    additional_service = models.CharField(max_length=40, blank=True)
    google_workspace_customer_id = models.CharField(max_length=64, blank=True)
    claims = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    first_seen_at = models.DateTimeField(default=timezone.now)
    last_synced_at = models.DateTimeField(default=timezone.now)
    seen_in_sync = models.BigIntegerField(
        null=True, blank=True, help_text="The last sync run that returned it."
    )
    changed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the portal last changed it: a sync page read before then is older news.",
    )

    class Meta:
        ordering = ["device_id"]
        indexes = [
            models.Index(fields=["owner", "device_id"], name="device_owner_idx"),
            models.Index(fields=["owner", "model", "device_id"], name="device_owner_model_idx"),
            models.Index(fields=["model", "device_id"], name="device_model_idx"),
            models.Index(fields=["manufacturer", "model", "device_id"], name="device_make_model_idx"),
            # Vendors' devices are the few: only they are indexed (own customers' devices, the many,
            # are found in primary-key order), sparing the write of an entry for every other device.
            models.Index(
                fields=["sold_by_vendor", "device_id"],
                name="device_vendor_idx",
                condition=models.Q(sold_by_vendor=True),
            ),
        ]

    # The search key kind a text search found the device by (``devices.selectors``); none when the
    # list is browsed. A default here, not a missing attribute: a template's failed lookup costs a
    # ``dir()`` of the whole model instance, twice a row.
    matched_kind = ""

    def __str__(self) -> str:
        return self.display_identifier

    @property
    def display_identifier(self) -> str:
        """The identifier a person would read out: the IMEI, else the MEID, else the serial."""
        return self.imei or self.meid or self.serial_number or str(self.device_id)

    @property
    def is_claimed(self) -> bool:
        return self.owner_id is not None

    @property
    def owner_name(self) -> str:
        """The claiming customer's name, or its id while that customer is not cached yet."""
        if self.owner_id is None:
            return ""
        try:
            return self.owner.name
        except Customer.DoesNotExist:
            return f"customer {self.owner_id}"

    @property
    def order_number(self) -> str:
        return self.metadata.get("ordernumber", "")

    @property
    def phone_number(self) -> str:
        return self.metadata.get("phonenumber", "")


class DeviceModel(models.Model):
    """A manufacturer and model some cached device has: the choices of the device list's filters.

    Kept by the writers of the cache (sync, the portal's own changes) as devices arrive, and pruned at
    the end of a full sync, so that a page never runs a DISTINCT over a million devices.
    """

    manufacturer = models.CharField(max_length=128)
    model = models.CharField(max_length=128)

    class Meta:
        ordering = ["manufacturer", "model"]
        constraints = [models.UniqueConstraint(fields=["manufacturer", "model"], name="devicemodel_unique")]

    def __str__(self) -> str:
        return f"{self.manufacturer} {self.model}"


class SearchKey(models.Model):
    """One typed-in value that finds a device: an identifier or a searchable metadata value.

    Every IMEI, IMEI2, MEID, MEID2, serial number, order number and phone number of every device has
    a row here, so one indexed range over ``value`` answers "find this (prefix)" whatever slot the
    value sits in, already sorted for keyset paging. An order number also has a row per part (the
    text from each separator or letter/digit change to its end), so typing any part finds it.
    """

    class Kind(models.TextChoices):
        IMEI = "imei", "IMEI"
        IMEI2 = "imei2", "IMEI 2"
        MEID = "meid", "MEID"
        MEID2 = "meid2", "MEID 2"
        SERIAL = "serial", "Serial number"
        ORDER_NUMBER = "ordernumber", "Order number"
        ORDER_PART = "orderpart", "Part of an order number"
        PHONE_NUMBER = "phonenumber", "Phone number"

    # The primary key is the search index itself: one range over ``value`` finds a prefix, already in
    # (value, device) order for keyset paging. No surrogate id and no second index: sync writes about
    # three keys per device, and each id or index entry more is work on every one of them. One key
    # per kind and device is kept by the writer (``devices.store``), which derives the keys from the
    # stored device and deletes the old ones the same way.
    pk = models.CompositePrimaryKey("value", "device", "kind")
    value = ByteOrderCharField(max_length=128)
    kind = models.CharField(max_length=12, choices=Kind)
    # No database constraint: a checked reference costs a lookup and a row lock on the device per
    # key. Deleting a device deletes its keys through the ORM.
    device = models.ForeignKey(
        Device, on_delete=models.CASCADE, related_name="search_keys", db_index=False, db_constraint=False
    )

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.value}"


class SyncRun(models.Model):
    """One run of the sync from the API into the cache: when, what it did, what went wrong.

    At most one run is ``running`` at a time (a partial unique index is the lock). ``progress`` lists
    the owners already completed, so an interrupted run is resumed rather than started over.
    """

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        PARTIAL = "partial", "Finished with errors"
        INTERRUPTED = "interrupted", "Interrupted"

    class Scope(models.TextChoices):
        FULL = "full", "Full sync"
        CUSTOMER = "customer", "One customer"
        DEVICE = "device", "One device"

    scope = models.CharField(max_length=16, choices=Scope, default=Scope.FULL)
    status = models.CharField(max_length=16, choices=Status, default=Status.RUNNING)
    trigger = models.CharField(max_length=32, blank=True, help_text="beat, command, or the person who asked")
    started_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    customers_fetched = models.PositiveIntegerField(default=0)
    devices_fetched = models.PositiveBigIntegerField(default=0)
    devices_created = models.PositiveBigIntegerField(default=0)
    devices_updated = models.PositiveBigIntegerField(default=0)
    devices_drifted = models.PositiveBigIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    progress = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"], condition=models.Q(status="running"), name="syncrun_one_running"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_scope_display()} {self.started_at:%Y-%m-%d %H:%M} ({self.get_status_display()})"

    @property
    def started_by(self) -> str:
        """Who or what started the run, in words (a person's full name is stored as it is)."""
        return {"beat": "Schedule", "command": "Command line", "ui": "Devices page"}.get(
            self.trigger, self.trigger.removeprefix("admin: ")
        )


class DeviceEvent(models.Model):
    """Something that happened to a device, kept forever: append-only history, and the reports' fact
    table.

    Every change the portal attempts is recorded, failed or not, and so is a change to a device the
    cache did not hold yet: ``device`` is then empty and ``identifier`` (always filled) names it.
    The references to the customer and the batch job carry no database constraint, because customers
    are a cache of the API and a job may be deleted while its history must stay; no reference
    cascades a delete into the history. ``manufacturer``, ``model`` and ``order_number`` are copied
    from the device when the event is written, so reports group by them without joining a million
    devices. Events are written through ``devices.history.events_record``, which keeps the reports'
    daily rollups in the same transaction.
    """

    class Kind(models.TextChoices):
        CLAIMED = "claimed", "Claimed"
        UNCLAIMED = "unclaimed", "Unclaimed"
        METADATA_CHANGED = "metadata_changed", "Metadata changed"
        # Unclaimed from one customer and claimed for another by one move; ``customer`` is the one it
        # moved to, ``details["previous_owner"]`` the one it left.
        MOVED = "moved", "Moved"
        FIRST_SEEN = "first_seen", "First seen"
        DRIFT_UNCLAIMED = "drift_unclaimed", "Found unclaimed outside the portal"
        DRIFT_CLAIMED = "drift_claimed", "Found claimed outside the portal"
        # Claims in the SIM-lock section are kinds of their own: the reports' claims and the orders'
        # lines follow the zero-touch claim only, and the history says which section changed.
        SIM_LOCK_CLAIMED = "sim_lock_claimed", "SIM-lock claimed"
        SIM_LOCK_UNCLAIMED = "sim_lock_unclaimed", "SIM-lock unclaimed"

    Outcome = Outcome

    class Source(models.TextChoices):
        UI = "ui", "Portal"
        BATCH = "batch", "Batch"
        SYNC = "sync", "Sync"

    device = models.ForeignKey(
        Device,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="events",
        help_text="Empty when the cache did not hold the device (then ``identifier`` names it).",
    )
    identifier = models.CharField(
        max_length=128, blank=True, help_text="The IMEI, MEID or serial number the change named."
    )
    created_at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=24, choices=Kind)
    outcome = models.CharField(max_length=12, choices=Outcome, default=Outcome.SUCCEEDED)
    failure_kind = models.CharField(max_length=20, choices=FailureKind, blank=True)
    source = models.CharField(max_length=8, choices=Source)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sync_run = models.ForeignKey(
        SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    # A lazy reference: devices never imports batches, and a deleted job leaves its history behind.
    batch = models.ForeignKey(
        "batches.BatchJob",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # reports read batches from their jobs; an index would cost every event a write
        related_name="+",
        help_text="The batch job the change came from.",
    )
    customer = models.ForeignKey(
        Customer,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # deviceevent_customer_idx starts with it
        related_name="+",
        help_text="The customer the event concerns (claimed for, unclaimed from).",
    )
    manufacturer = models.CharField(max_length=128, blank=True)
    model = models.CharField(max_length=128, blank=True)
    order_number = models.CharField(max_length=128, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["device", "-created_at"], name="deviceevent_device_idx"),
            models.Index(fields=["kind", "-created_at"], name="deviceevent_kind_idx"),
            models.Index(fields=["customer", "-created_at"], name="deviceevent_customer_idx"),
            # Example devices of a failure kind: failures are the few, so only they are indexed.
            models.Index(
                fields=["failure_kind", "-created_at"],
                name="deviceevent_failure_idx",
                condition=~models.Q(failure_kind=""),
            ),
            models.Index(
                fields=["customer", "failure_kind", "-created_at"],
                name="deviceevent_customer_fail_idx",
                condition=~models.Q(failure_kind=""),
            ),
            # Events recorded before the cache knew their device's model (history.events_fill_models).
            models.Index(
                fields=["device"],
                name="deviceevent_no_model_idx",
                condition=models.Q(model="", manufacturer=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.get_source_display()})"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise ValueError("Device history is append-only and cannot be changed.")
        super().save(*args, **kwargs)

    @property
    def title(self) -> str:
        """What happened, in words: "Claimed", "Claim failed", "Unclaim: nothing to change"."""
        action = {
            self.Kind.CLAIMED: "Claim",
            self.Kind.UNCLAIMED: "Unclaim",
            self.Kind.METADATA_CHANGED: "Metadata change",
            self.Kind.MOVED: "Move",
            self.Kind.SIM_LOCK_CLAIMED: "SIM-lock claim",
            self.Kind.SIM_LOCK_UNCLAIMED: "SIM-lock unclaim",
        }.get(self.kind)
        if action is None or self.outcome == self.Outcome.SUCCEEDED:
            return self.get_kind_display()
        if self.outcome == self.Outcome.FAILED:
            return f"{action} failed"
        if self.outcome == self.Outcome.UNKNOWN:
            return f"{action}: outcome unknown"
        return f"{action}: nothing to change"
