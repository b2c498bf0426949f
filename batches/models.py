"""Batch jobs: thousands of devices claimed, unclaimed or given metadata from one file.

A job is made from a file (or pasted text, or scans) by the pre-flight, which checks every row and
stores one item per row: ready, invalid (with the reason) or skipped (nothing to do). Once a person
confirms, the ready items are cut into chunks, one API request each (``claimAsync`` and its
siblings). A chunk's state says exactly what the portal knows about its request:

    pending ──► submitting ──► submitted ──► done
       ▲   │         │  (answer lost)      ▲
       │   ▼         └──────► unknown ─────┘ (reconciled from the devices' state)
       │ cancelled          │
       └────────────────────┘ (devices not changed: sent again, once)

``submitting`` is committed before the request leaves, and the operation's name is stored in the same
transaction that marks the chunk ``submitted``, so a crash at any moment leaves a chunk whose state
tells what to do next and no request is ever sent twice blindly.

A move to another customer is two requests for each device, since zero-touch claims no device that
another customer holds: an unclaim, then a claim. A chunk of a move job goes round the machine above
once for each, its ``phase`` saying which. In the transaction that records its unclaim's outcomes, the
rows whose unclaim failed fail, the others stay waiting, and the chunk goes back to ``pending`` in the
claim phase (it is ``done`` only when none is left to claim):

    phase unclaim: pending ─► … ─► outcomes ─► phase claim: pending ─► … ─► done
                                       └─► done (no device was unclaimed)

So a crash between the two halves leaves a chunk waiting to be sent like any other, and a lost answer
in either half is settled from the devices' state against that half's request. A row whose claim
failed after its unclaim succeeded is ``half_done``: the device is unclaimed, and the job page says
so and offers to claim it back for its old customer or to try the new one again.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from customers.models import Customer
from devices.models import Action, FailureKind, SectionType


class BatchJob(models.Model):
    Action = Action  # a job makes one kind of device change, spelled as the one-device page spells it

    class State(models.TextChoices):
        DRAFT = "draft", "Checked, awaiting confirmation"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Finished"
        CANCELLED = "cancelled", "Cancelled"
        DISCARDED = "discarded", "Discarded before sending"

    class Source(models.TextChoices):
        FILE = "file", "CSV file"
        PASTE = "paste", "Pasted lines"
        SCAN = "scan", "Scanned"
        COMMAND = "command", "Command line"
        RETRY = "retry", "Retry of failed items"

    action = models.CharField(max_length=12, choices=Action)
    state = models.CharField(max_length=12, choices=State, default=State.DRAFT)
    source = models.CharField(max_length=12, choices=Source, default=Source.FILE)
    source_name = models.CharField(max_length=255, blank=True, help_text="The uploaded file's name.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_name = models.CharField(max_length=150, blank=True, help_text="Kept when the user is gone.")
    customer = models.ForeignKey(
        Customer,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        help_text="The customer chosen on the form (rows of Google's format name their own).",
    )
    from_customer = models.ForeignKey(
        Customer,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        help_text="Moves: only devices this customer holds are moved (empty: any customer's).",
    )
    any_owner = models.BooleanField(
        default=False,
        help_text="An unclaim from whichever customer holds each device, chosen explicitly; otherwise "
        "a device held by anyone but the named customer is refused.",
    )
    vacation_mode_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Unclaims: keep each device locked to its policy this many days."
    )
    vacation_mode_until = models.DateTimeField(
        null=True, blank=True, help_text="Unclaims: keep each device locked to its policy until then."
    )
    retry_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    chunk_size = models.PositiveIntegerField(default=1000)
    # Counts, kept in step with the items in the same transactions, so that a progress poll reads
    # one row instead of counting a hundred thousand.
    rows = models.PositiveIntegerField(default=0)
    ready = models.PositiveIntegerField(default=0, help_text="Rows to send.")
    invalid = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0, help_text="Rows with nothing to do.")
    succeeded = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    cancelled = models.PositiveIntegerField(default=0)
    half_done = models.PositiveIntegerField(
        default=0, help_text="Moves: rows unclaimed whose claim then failed (counted in failed too)."
    )
    customers = models.PositiveIntegerField(
        default=0, help_text="How many customers the rows to send are for (or, for unclaims, held by)."
    )
    ignored_columns = models.JSONField(
        default=list, blank=True, help_text="The file's columns the portal does not read, as headed."
    )
    note = models.TextField(blank=True, help_text="Why the job stopped, when it did not finish normally.")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["created_by", "-created_at"], name="batchjob_user_idx"),
            models.Index(fields=["state"], name="batchjob_state_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} job {self.pk} ({self.get_state_display()})"

    @property
    def pending(self) -> int:
        """Items confirmed but without an outcome yet."""
        if self.state in (self.State.DRAFT, self.State.DISCARDED):
            return 0
        return max(0, self.ready - self.succeeded - self.failed - self.cancelled)

    @property
    def finished(self) -> bool:
        return self.state in (self.State.DONE, self.State.CANCELLED, self.State.DISCARDED)

    @property
    def percent_done(self) -> int:
        if not self.ready:
            return 100 if self.finished else 0
        return int(100 * (self.ready - self.pending) / self.ready)


class BatchChunk(models.Model):
    """One API request of a job: up to ``chunk_size`` items, and the operation that processes them."""

    class State(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SUBMITTING = "submitting", "Being sent"
        SUBMITTED = "submitted", "Sent, being processed"
        UNKNOWN = "unknown", "Answer lost, checking the devices"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    class Phase(models.TextChoices):
        """Which half of a move the chunk's request is (the module's docstring); other jobs have none."""

        NONE = "", "Whole change"
        UNCLAIM = "unclaim", "Unclaim (first half of a move)"
        CLAIM = "claim", "Claim (second half of a move)"

    job = models.ForeignKey(BatchJob, on_delete=models.CASCADE, related_name="chunks")
    number = models.PositiveIntegerField()
    state = models.CharField(max_length=12, choices=State, default=State.PENDING)
    phase = models.CharField(max_length=8, choices=Phase, blank=True, default=Phase.NONE)
    unclaimed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Moves: when the unclaims of its rows were recorded (the moment the history gives a "
        "row whose claim then fails).",
    )
    size = models.PositiveIntegerField(default=0)
    operation_name = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveIntegerField(
        default=0, help_text="Requests sent for it (a resubmission is a second)."
    )
    attempted_at = models.DateTimeField(null=True, blank=True, help_text="When the last request was sent.")
    submitted_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(
        null=True, blank=True, help_text="When to act on it next: send, poll, or check the devices."
    )
    progress = models.PositiveSmallIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    holder = models.CharField(
        max_length=255, blank=True, help_text="The worker sending it while it is being sent (node and start)."
    )
    reconciled_at = models.DateTimeField(
        null=True, blank=True, help_text="When its devices' state was read (its answer was lost)."
    )
    reconcile_calls = models.PositiveIntegerField(
        default=0, help_text="API calls spent reading the devices' state to settle a lost answer."
    )

    class Meta:
        ordering = ["job", "number"]
        constraints = [models.UniqueConstraint(fields=["job", "number"], name="batchchunk_job_number")]
        indexes = [models.Index(fields=["state", "due_at"], name="batchchunk_due_idx")]

    def __str__(self) -> str:
        return f"Chunk {self.number} of job {self.job_id} ({self.get_state_display()})"


class BatchItem(models.Model):
    """One row of a job's input: one device, what to do with it, and what happened."""

    class State(models.TextChoices):
        """An item's own state. While it waits for an outcome it stays ``pending``: what its request is
        doing (being sent, sent with an operation name, answer lost) is its chunk's state, changed once
        for the chunk rather than for each of its thousand items (``progress_label``)."""

        INVALID = "invalid", "Not sent: invalid"
        SKIPPED = "skipped", "Nothing to do"
        PENDING = "pending", "Waiting to be sent"
        SUCCEEDED = "succeeded", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    TERMINAL = frozenset({State.INVALID, State.SKIPPED, State.SUCCEEDED, State.FAILED, State.CANCELLED})

    # No index of their own: the composite indexes below start with them, and every index is written
    # for each of a hundred thousand rows.
    #
    # The job reference has no database constraint. PostgreSQL would look the job up once for every
    # item inserted (about 0.4 s added to the 0.7 s that storing a 100,000-row pre-flight takes) to
    # prove what is true by construction: items are inserted only by ``job_create``, in the
    # transaction that creates their job. Deleting a job still deletes its items, because Django
    # carries out ``CASCADE`` itself (``job.delete()``, a queryset's or the admin's delete) whether or
    # not the database knows of the reference. Only SQL that deletes jobs behind the ORM's back could
    # leave orphans, and the pages and tasks find items through their job, so those would be unseen.
    # The chunk reference keeps its constraint: it is empty when items are stored, and costs nothing
    # then.
    job = models.ForeignKey(
        BatchJob, on_delete=models.CASCADE, related_name="items", db_index=False, db_constraint=False
    )
    row_number = models.PositiveIntegerField(help_text="The row's line in the file (the header is line 1).")
    state = models.CharField(max_length=12, choices=State)
    chunk = models.ForeignKey(
        BatchChunk, null=True, blank=True, on_delete=models.SET_NULL, related_name="items", db_index=False
    )
    # The device as the row names it (normalised), and what to do.
    imei = models.CharField(max_length=32, blank=True)
    meid = models.CharField(max_length=32, blank=True)
    serial_number = models.CharField(max_length=128, blank=True)
    manufacturer = models.CharField(max_length=128, blank=True)
    model = models.CharField(max_length=128, blank=True)
    customer_id = models.BigIntegerField(null=True, blank=True)
    from_customer_id = models.BigIntegerField(
        null=True, blank=True, help_text="Moves: the customer that held the device at the check."
    )
    metadata = models.JSONField(default=dict, blank=True)
    section_type = models.CharField(
        max_length=32,
        choices=SectionType,
        default=SectionType.ZERO_TOUCH,
        help_text="The claim a claim or an unclaim acts on (the row's sectiontype or profiletype); "
        "metadata changes and moves are zero-touch's.",
    )
    simlock_profile_id = models.CharField(
        max_length=20, blank=True, help_text="Claims in SIM lock: the reseller's SIM-lock profile id."
    )
    device_id = models.BigIntegerField(null=True, blank=True, help_text="Zero-touch's id, once known.")
    # The outcome.
    failure_kind = models.CharField(max_length=20, choices=FailureKind, blank=True)
    status = models.CharField(max_length=64, blank=True, help_text="Zero-touch's status for this device.")
    message = models.TextField(blank=True, help_text="Why, in words (pre-flight or zero-touch).")
    suggestion = models.CharField(max_length=128, blank=True, help_text="The likely intended value.")
    half_done = models.BooleanField(
        default=False,
        db_default=False,  # the pre-flight's bulk writer leaves it out
        help_text="Moves: unclaimed, then the claim failed; the device is left unclaimed.",
    )
    raw = models.JSONField(default=dict, blank=True, help_text="The row as it was given.")

    class Meta:
        ordering = ["job", "row_number", "id"]
        indexes = [
            models.Index(fields=["job", "state", "row_number"], name="batchitem_job_state_idx"),
            models.Index(fields=["job", "row_number"], name="batchitem_job_row_idx"),
            # A chunk's request lists its items in row order, and its results come back in that order.
            # Items join a chunk only once confirmed: the pre-flight's rows, all without one, are left
            # out of this index rather than written to it a hundred thousand at a time.
            models.Index(
                fields=["chunk", "row_number"],
                name="batchitem_chunk_idx",
                condition=models.Q(chunk__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"Row {self.row_number} of job {self.job_id}: {self.label}"

    @property
    def label(self) -> str:
        return self.imei or self.meid or self.serial_number or "(no identifier)"

    @property
    def sim_lock(self) -> bool:
        return self.section_type == SectionType.SIM_LOCK

    @property
    def progress_label(self) -> str:
        """Where the item stands, in words: its outcome, or while it waits, its chunk's state."""
        if self.state == self.State.PENDING and self.chunk_id is not None:
            if self.chunk.phase == BatchChunk.Phase.CLAIM:
                return f"Unclaimed; claim: {self.chunk.get_state_display().lower()}"
            return self.chunk.get_state_display()
        if self.half_done:
            return "Half done: unclaimed, claim failed"
        return self.get_state_display()


class JobEmail(models.Model):
    """One email about a job that ended: to the person who sent it (asked for when confirming), or to
    the notification addresses of a customer the job claimed devices for.

    The row is what keeps it to one email. The constraints allow one per job and recipient, however
    often the job's end is reached; one worker takes it for sending (``sending``, committed before the
    message leaves); and once taken it is never sent again: a worker that dies while sending leaves it
    ``sending``, and the sweeper marks it failed rather than risk a second copy. A send that fails
    (the mail server down) puts it back to ``pending``, due again later, a bounded number of times.
    """

    class Kind(models.TextChoices):
        STARTER = "starter", "To the person who sent the job"
        CUSTOMER = "customer", "To the customer's notification addresses"

    class State(models.TextChoices):
        WAITING = "waiting", "Waiting for the job to end"
        PENDING = "pending", "To send"
        SENDING = "sending", "Being sent"
        SENT = "sent", "Sent"
        FAILED = "failed", "Not sent"

    job = models.ForeignKey(BatchJob, on_delete=models.CASCADE, related_name="emails")
    kind = models.CharField(max_length=12, choices=Kind)
    customer_id = models.BigIntegerField(
        null=True, blank=True, help_text="The customer told (customer emails)."
    )
    recipients = models.JSONField(default=list, help_text="The addresses, as they were when it was made.")
    state = models.CharField(max_length=12, choices=State, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField(null=True, blank=True, help_text="When to try sending it (again).")
    attempted_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["job", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["job"], condition=models.Q(kind="starter"), name="jobemail_one_to_starter"
            ),
            models.UniqueConstraint(
                fields=["job", "customer_id"],
                condition=models.Q(kind="customer"),
                name="jobemail_one_per_customer",
            ),
        ]
        indexes = [models.Index(fields=["state", "due_at"], name="jobemail_due_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} about job {self.job_id} ({self.get_state_display()})"
