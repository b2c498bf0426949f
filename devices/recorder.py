"""Recording device changes: the cache rows, the device history, the audit log and the counts, for one
device or a batch's chunk, in one transaction.

Every change the portal makes to a device is recorded here, whichever way it went: the one-device
page (``devices.services``) records one device at a time, each with an audit row; a batch records a
chunk of up to a thousand from the verdicts of its request (``devices_record_batch``), without audit
rows (the job is audited as a whole). A change the API confirmed is written into the cache from what
was asked, without reading the device again. Every device gets one history event, failed or not,
whether the cache holds it or not; a batch's move gets one for its two requests, written when the
second has ended (``devices_record_move_unclaims``, ``devices_record_move_claims``).

The transaction takes its rows in the order every writer of the history takes them
(``devices.history``): the devices' rows first, locked, so that two changes of one device are applied
one after the other; last, the rows other writers add to: the orders the events name, the device
counts of the customers the changes moved devices between, today's rollup rows. Their locks are then
held for the end of the transaction only, not while a chunk's devices, events and order lines are
written, so a person's claim made meanwhile waits milliseconds, not seconds.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

import zerotouch
from core.audit import audit_record
from core.outcomes import Outcome
from devices.changes import Intent, Verdict
from devices.history import device_fields, events_count, events_record, order_number_of
from devices.models import Action, DeviceEvent
from devices.store import (
    DeviceRow,
    cache_store_changed,
    cached_rows,
    new_device_row,
    refresh_device_counts,
    row_claimed,
    row_unclaimed,
    row_with_metadata,
    vendor_customer_ids,
)

_AUDIT_ACTIONS = {
    Action.CLAIM: "device.claim",
    Action.UNCLAIM: "device.unclaim",
    Action.METADATA: "device.metadata",
    Action.MOVE: "device.move",
}


@dataclass(frozen=True)
class ChangeRecord:
    """One device's change as the recorder writes it: what was asked, and what became of it.

    ``label`` is the identifier the change named the device by: the audit row's target, and the
    event's identifier when the cache does not hold the device. ``details`` are the history's details,
    or a function of the device's cache row before the change (None: not cached) that gives them.
    ``order_number`` is the one the change named, which wins over the device's. ``apply`` writes the
    change into the cache: a change the API confirmed, on a device not read back since. ``history``
    False writes the cache row alone: the first half of a move, whose event waits for the second.
    ``at`` is the event's moment when it is not the recording's (None: now).
    """

    intent: Intent
    outcome: Outcome
    device_id: int | None
    label: str
    details: Mapping[str, Any] | Callable[[DeviceRow | None], dict]
    failure_kind: str = ""
    order_number: str = ""
    apply: bool = False
    history: bool = True
    at: datetime | None = None


def devices_record(
    *,
    changes: Sequence[ChangeRecord],
    actor: AbstractBaseUser | None,
    source: DeviceEvent.Source,
    reseller_id: int,
    batch_id: int | None = None,
    audit: bool = False,
    shown_is_no_op: bool = False,
) -> list[DeviceEvent]:
    """Record ``changes`` in the caller's transaction, or its own: the cache rows of those applied,
    one history event each (but for those without ``history``), an audit row each with ``audit``, and
    the counts. Returns the events, in the order of ``changes``.

    An applied claim of a device the cache does not hold adds it from its identifier; an unclaim or a
    metadata change of one leaves the cache to the next sync. Unclaims in vacation mode keep the
    claim until the mode ends. ``reseller_id`` is the partner that makes the changes (this portal's).
    With ``shown_is_no_op`` (the one-device page), an applied change the cached row already shows is
    recorded as "nothing to change": of two identical requests at once, the second finds the change
    made under the row's lock. A batch records what zero-touch said of each device instead."""
    if not changes:
        return []
    now = timezone.now()
    with transaction.atomic():
        rows = cached_rows([c.device_id for c in changes if c.device_id is not None], lock=True)
        rows_before = dict(rows)
        vendor_customers = vendor_customer_ids() if any(c.apply for c in changes) else set()
        change_row = partial(
            _changed_row, reseller_id=reseller_id, vendor_customers=vendor_customers, now=now
        )
        outcomes, changed = [], []
        for change in changes:
            cached = rows.get(change.device_id)
            new = change_row(change, cached) if change.apply else None
            if new is not None and shown_is_no_op and cached is not None and _shows(cached, new):
                outcomes.append(Outcome.NO_OP)  # a repeat: the cached row already shows it
                continue
            outcomes.append(change.outcome)
            if new is not None:
                rows[change.device_id] = new
                changed.append(new)
        owners = cache_store_changed(changed, recount=False)
        events = []
        for change, outcome in zip(changes, outcomes, strict=True):
            if not change.history:
                continue
            details = change.details
            if callable(details):
                details = details(rows_before.get(change.device_id))
            if audit:
                _audit(change, outcome, details, actor=actor)
            row = rows.get(change.device_id)
            events.append(
                DeviceEvent(
                    device_id=change.device_id if row is not None else None,
                    created_at=change.at or now,
                    kind=change.intent.event_kind,
                    outcome=outcome,
                    failure_kind=change.failure_kind,
                    source=source,
                    actor=actor,
                    batch_id=batch_id,
                    customer_id=change.intent.customer_id,
                    details=details,
                    **_event_fields(change, row),
                )
            )
        created = events_record(events, count=False)
        # Last, the rows other writers add to, in the order every writer takes them (above).
        events_count(created, before_daily=lambda: refresh_device_counts(owners))
    return created


def _audit(
    change: ChangeRecord, outcome: Outcome, details: Mapping[str, Any], *, actor: AbstractBaseUser | None
) -> None:
    if change.failure_kind:
        details = {**details, "failure_kind": change.failure_kind}
    audit_record(
        actor=actor,
        action=_AUDIT_ACTIONS[change.intent.action],
        target_type="device",
        target_id=str(change.device_id or ""),
        target_label=change.label,
        outcome=outcome,
        details=details,
    )


def _changed_row(
    change: ChangeRecord,
    cached: DeviceRow | None,
    *,
    reseller_id: int,
    vendor_customers: set[int],
    now: datetime,
) -> DeviceRow | None:
    """The cache row of a device once the API made the change (None: nothing cached to correct; a
    claim adds a device the cache did not hold, other changes of one wait for the next sync)."""
    intent = change.intent
    if cached is not None:
        row = cached
    elif change.device_id is not None and intent.action in (Action.CLAIM, Action.MOVE):
        row = new_device_row(change.device_id, intent.identifier, now=now)
    else:
        return None
    if intent.action in (Action.CLAIM, Action.MOVE):  # a move ends claimed for its new customer
        return row_claimed(
            row,
            customer_id=intent.customer_id,
            reseller_id=reseller_id,
            section_type=intent.section_type,
            google_workspace_customer_id=intent.google_workspace_customer_id if intent.chrome_os else "",
            metadata=intent.metadata,
            vendor_customers=vendor_customers,
            now=now,
        )
    if intent.action == Action.UNCLAIM:
        days = intent.vacation_mode_days
        return row_unclaimed(
            row,
            section_type=intent.section_type,
            vacation_mode_until=now + timedelta(days=days) if days else intent.vacation_mode_until,
            vendor_customers=vendor_customers,
            now=now,
        )
    return row_with_metadata(row, intent.metadata, now=now)


def _shows(row: DeviceRow, changed: DeviceRow) -> bool:
    """Whether the cached row already shows the change: its claim and metadata would stay as they are."""
    return all(changed[column] == row[column] for column in ("owner_id", "metadata", "claims"))


def _event_fields(change: ChangeRecord, row: DeviceRow | None) -> dict[str, str]:
    """What the event copies of its device: from the cache row as the change left it when there is
    one, else what the change named the device by. The order number the change named wins."""
    identifier = change.intent.identifier
    fields = device_fields(row) or {
        "identifier": change.label,
        "manufacturer": (identifier and identifier.manufacturer) or "",
        "model": (identifier and identifier.model) or "",
    }
    fields["order_number"] = change.order_number or fields.get("order_number", "")
    return fields


# --- A batch's chunk -----------------------------------------------------------------------------


def devices_record_batch(
    *,
    changes: Sequence[tuple[Intent, Verdict]],
    actor: AbstractBaseUser | None,
    batch_id: int | None,
    reseller_id: int,
) -> None:
    """Record one chunk's changes, each with its verdict (``devices_record``): the changes that
    succeeded are written into the cache, and every change gets a history event.

    A metadata change's history says what each key held before, from the cache as it was, as the
    one-device edit does; an event copies the device's make and model from the cache whatever the
    batch's row named it by."""
    _record_batch(
        [_batch_record(intent, verdict) for intent, verdict in changes],
        actor=actor,
        batch_id=batch_id,
        reseller_id=reseller_id,
    )


def _batch_record(intent: Intent, verdict: Verdict, /, **overrides) -> ChangeRecord:
    """A batch row's change as the recorder takes it: the verdict's outcome, written into the cache
    when it succeeded, with the batch's event details; ``overrides`` for a move's halves."""
    return ChangeRecord(
        **{
            "intent": intent,
            "outcome": verdict.outcome,
            "device_id": verdict.device_id,
            "label": _named(intent.identifier) or "",
            "details": partial(_batch_details, intent, verdict),
            "failure_kind": "" if verdict.succeeded else verdict.kind,
            "order_number": order_number_of(intent.metadata),
            "apply": verdict.succeeded,
            **overrides,
        }
    )


def _record_batch(
    records: list[ChangeRecord], *, actor: AbstractBaseUser | None, batch_id: int | None, reseller_id: int
) -> None:
    devices_record(
        changes=records,
        actor=actor,
        source=DeviceEvent.Source.BATCH,
        batch_id=batch_id,
        reseller_id=reseller_id,
    )


def _named(identifier: zerotouch.DeviceIdentifier) -> str | None:
    return identifier.imei or identifier.meid or identifier.serial_number


def _batch_details(intent: Intent, verdict: Verdict, row_before: DeviceRow | None) -> dict:
    """A batch event's details, as batches have always written them (the page writes its own)."""
    details: dict = {"identifier": _named(intent.identifier)}
    if intent.action == Action.MOVE:
        details["previous_owner"] = intent.from_customer_id
    if intent.customer_id is not None:
        details["previous_owner" if intent.action == Action.UNCLAIM else "customer"] = intent.customer_id
    if intent.simlock_profile_id and intent.action == Action.CLAIM:  # a claim in SIM lock, as the page
        details["simlock_profile_id"] = intent.simlock_profile_id
    if intent.action == Action.METADATA:
        if row_before is not None:
            metadata_before = row_before["metadata"] or {}
            details["before"] = {key: str(metadata_before.get(key, "")) for key in intent.metadata}
        details["after"] = dict(intent.metadata)
    else:
        details.update(intent.metadata)
    if verdict.sentence and not verdict.succeeded:
        details["error"] = verdict.sentence
    if intent.action == Action.UNCLAIM:
        if intent.vacation_mode_days:
            details["vacation_mode_days"] = intent.vacation_mode_days
        elif intent.vacation_mode_until:
            details["vacation_mode_expire_time"] = intent.vacation_mode_until.isoformat()
    return details


# --- A batch's moves -----------------------------------------------------------------------------
#
# A move is two requests (an unclaim, then a claim) and one change in the history. Its first half goes
# into the cache as soon as zero-touch confirms it, so that the pages, the checks before a request and
# the sync see each device as it is; its event waits for the second half, and whatever that half's
# outcome the event says what the device is then: moved, or unclaimed (with why the move stopped).


def devices_record_move_unclaims(
    *,
    changes: Sequence[tuple[Intent, Verdict]],
    actor: AbstractBaseUser | None,
    batch_id: int | None,
    reseller_id: int,
) -> None:
    """Record the first half of moves: each change is the move (``Action.MOVE``) with the verdict of
    its unclaim. A device unclaimed is written into the cache as unclaimed, without an event yet; a
    device whose unclaim failed was not changed, and its event is the failed move, with the reason."""
    records = [
        _batch_record(
            intent,
            verdict,
            intent=intent.unclaim_half() if verdict.succeeded else intent,
            history=not verdict.succeeded,
        )
        for intent, verdict in changes
    ]
    _record_batch(records, actor=actor, batch_id=batch_id, reseller_id=reseller_id)


def devices_record_move_claims(
    *,
    changes: Sequence[tuple[Intent, Verdict]],
    unclaimed_at: datetime | None,
    actor: AbstractBaseUser | None,
    batch_id: int | None,
    reseller_id: int,
) -> None:
    """Record the end of moves: each change is the move (``Action.MOVE``) with the verdict of its
    claim, sent once its unclaim succeeded.

    A device claimed for its new customer gets its cache row and one "moved" event (from, to). A
    device whose claim failed is unclaimed (its cache row has said so since the first half), and the
    history must not say otherwise: it gets an "unclaimed" event from the customer it left, dated
    ``unclaimed_at`` (when that half was recorded, so that it comes before whatever happened to the
    device since, such as another claim that made this one fail), naming the customer the move was
    for and why its claim failed."""
    records = []
    for intent, verdict in changes:
        if verdict.succeeded:
            records.append(_batch_record(intent, verdict))
            continue
        details = {
            "identifier": _named(intent.identifier) or "",
            "previous_owner": intent.from_customer_id,
            "move_to": intent.customer_id,
            "error": verdict.sentence,
        }
        records.append(
            _batch_record(
                intent,
                verdict,
                intent=intent.unclaim_half(),
                outcome=Outcome.SUCCEEDED,  # the unclaim was made; the claim is what failed
                details=details,
                failure_kind="",
                at=unclaimed_at,
            )
        )
    _record_batch(records, actor=actor, batch_id=batch_id, reseller_id=reseller_id)
