"""The one path of a device change: what was asked (an ``Intent``), the API request it becomes, and
what the API's answer means for it (a ``Verdict``).

The claim page changes one device and a batch changes a thousand at a time, but it is the same
change: one ``Intent`` builds both the single call (``Intent.send``) and its item of the async call
(``Intent.async_item``, sent by ``send_async``), and one set of rules reads the outcome, whether it
comes as a per-device status of a finished operation (``verdict_of_result``), as the device's state
read back after a lost answer (``verdict_of_state``) or as an error of the whole request
(``verdict_of_error``). Writing the outcome into the cache, the history and the audit log is the
recorder's (``devices.recorder``, for one device and for a chunk alike).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import zerotouch
from core.outcomes import Outcome
from devices.failures import EXPLANATIONS, change_failed_sentence, kind_of_error, kind_of_result
from devices.models import Action, DeviceEvent, FailureKind, SectionType


@dataclass(frozen=True)
class Intent:
    """One device change a person asked for.

    A device is named by its zero-touch id when the cache knows it, else by its identifier.
    ``customer_id`` is the customer a claim is for; for an unclaim or a metadata change, the customer
    the device belongs to (for the history). ChromeOS claims carry the Google Workspace customer id
    and the pre-provisioning token instead of the customer id. A claim in the SIM-lock section names
    the reseller's SIM-lock profile (``simlock_profile_id``, an int64 written as the API writes it).

    A move (``Action.MOVE``) goes to ``customer_id`` from ``from_customer_id``. Zero-touch has no
    request for it: it is sent as its two halves, ``unclaim_half`` and then ``claim_half``, and read
    back half by half; it is recorded as one change when its claim half has ended.
    """

    action: Action
    identifier: zerotouch.DeviceIdentifier | None = None
    device_id: int | None = None
    customer_id: int | None = None
    section_type: str = SectionType.ZERO_TOUCH
    metadata: Mapping[str, str] = field(default_factory=dict)
    vacation_mode_days: int | None = None
    vacation_mode_until: datetime | None = None
    chrome_os: bool = False
    google_workspace_customer_id: str = ""
    pre_provisioning_token: str = ""
    from_customer_id: int | None = None
    simlock_profile_id: str = ""

    @property
    def vacation(self) -> bool:
        return bool(self.vacation_mode_days or self.vacation_mode_until)

    @property
    def event_kind(self) -> str:
        """The kind of history event this change is recorded as: a SIM-lock claim or unclaim has its
        own, any other change its action's (``Action.event_kind``)."""
        if self.section_type == SectionType.SIM_LOCK and self.action == Action.CLAIM:
            return DeviceEvent.Kind.SIM_LOCK_CLAIMED
        if self.section_type == SectionType.SIM_LOCK and self.action == Action.UNCLAIM:
            return DeviceEvent.Kind.SIM_LOCK_UNCLAIMED
        return self.action.event_kind

    # --- A move's halves ----------------------------------------------------------------------------

    def unclaim_half(self) -> "Intent":
        """A move's first request: the device unclaimed from the customer it leaves, for good (no
        vacation mode: the claim must be gone for the next customer's claim to be accepted)."""
        assert self.action == Action.MOVE, "only a move has halves"
        return replace(
            self,
            action=Action.UNCLAIM,
            customer_id=self.from_customer_id,
            vacation_mode_days=None,
            vacation_mode_until=None,
        )

    def claim_half(self) -> "Intent":
        """A move's second request: the (now unclaimed) device claimed for the customer it goes to,
        with the metadata the row gave. Claims name a device by its identifier, as every claim does."""
        assert self.action == Action.MOVE, "only a move has halves"
        return replace(self, action=Action.CLAIM, from_customer_id=None)

    # --- The request ------------------------------------------------------------------------------

    def async_item(self) -> zerotouch.PartnerClaim | zerotouch.PartnerUnclaim | zerotouch.MetadataUpdate:
        """This change as one item of ``claimAsync``, ``unclaimAsync`` or ``updateMetadataAsync``;
        ``send`` makes the single call from the same item."""
        if self.action == Action.MOVE:
            raise ValueError("A move is sent as its two halves (unclaim_half, claim_half).")
        named = {"device_id": str(self.device_id)} if self.device_id else {"identifier": self.identifier}
        if self.action == Action.CLAIM:
            return zerotouch.PartnerClaim(
                identifier=self.identifier,
                customer_id=None if self.chrome_os else str(self.customer_id),
                google_workspace_customer_id=self.google_workspace_customer_id if self.chrome_os else None,
                pre_provisioning_token=self.pre_provisioning_token or None,
                section_type=self.section_type,
                metadata=zerotouch.DeviceMetadata(entries=dict(self.metadata)) if self.metadata else None,
                simlock_profile_id=self.simlock_profile_id or None,
            )
        if self.action == Action.UNCLAIM:
            return zerotouch.PartnerUnclaim(
                **named,
                section_type=self.section_type,
                vacation_mode_days=self.vacation_mode_days,
                vacation_mode_expire_time=self.vacation_mode_until.isoformat()
                if self.vacation_mode_until
                else None,
            )
        return zerotouch.MetadataUpdate(
            metadata=zerotouch.DeviceMetadata(entries=dict(self.metadata)), **named
        )

    def send(self, client: zerotouch.Client) -> int | None:
        """Make this change with the single call (``devices.claim``, ``devices.unclaim``,
        ``devices.metadata``); returns the device's id when the API names it (a claim). Raises the
        client's errors: the caller reads them with ``verdict_of_error`` or the device's state."""
        item = self.async_item()
        if self.action == Action.CLAIM:
            result = client.devices_claim(
                identifier=item.identifier,
                customer_id=item.customer_id,
                google_workspace_customer_id=item.google_workspace_customer_id,
                pre_provisioning_token=item.pre_provisioning_token,
                section_type=item.section_type,
                metadata=dict(self.metadata) or None,
                simlock_profile_id=item.simlock_profile_id,
            )
            return int(result.device_id)
        if self.action == Action.UNCLAIM:
            client.devices_unclaim(
                device_id=item.device_id,
                identifier=None if item.device_id else item.identifier,
                section_type=item.section_type,
                vacation_mode_days=item.vacation_mode_days,
                vacation_mode_expire_time=item.vacation_mode_expire_time,
            )
            return self.device_id
        client.devices_metadata(device_id=self.device_id, entries=dict(self.metadata))
        return self.device_id


def send_async(client: zerotouch.Client, intents: Sequence[Intent]) -> zerotouch.Operation:
    """One async request for changes of one action, in their order (the results come back in it)."""
    action = intents[0].action
    assert all(intent.action == action for intent in intents), "one action per request"
    items = [intent.async_item() for intent in intents]
    if action == Action.CLAIM:
        return client.devices_claim_async(claims=items)
    if action == Action.UNCLAIM:
        return client.devices_unclaim_async(unclaims=items)
    return client.devices_update_metadata_async(updates=items)


# --- What the answer means ------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What became of a change: done; failed, with a kind and a sentence; or not decided by what was
    seen, so to be sent again (a lost answer whose operation did not touch the device)."""

    succeeded: bool
    device_id: int | None = None
    kind: str = ""
    sentence: str = ""
    status: str = ""  # zero-touch's per-device status, when it gave one
    send_again: bool = False

    @property
    def outcome(self) -> Outcome:
        return Outcome.SUCCEEDED if self.succeeded else Outcome.FAILED


def verdict_of_result(intent: Intent, result: zerotouch.PerDeviceResult | None) -> Verdict:
    """The verdict of one per-device status of a finished operation."""
    if result is None:
        return Verdict(
            succeeded=False,
            device_id=intent.device_id,
            kind=FailureKind.OTHER,
            sentence="Zero-touch returned no result for this device.",
        )
    device_id = int(result.device_id) if result.device_id else intent.device_id
    if result.succeeded:
        return Verdict(succeeded=True, device_id=device_id, status=result.status or "")
    kind = kind_of_result(result)
    said = (result.error_message or "").strip()
    explanation = EXPLANATIONS.get(FailureKind(kind), "")
    return Verdict(
        succeeded=False,
        device_id=device_id,
        kind=kind,
        sentence=f"{explanation} (Zero-touch: {said})" if said else explanation,
        status=result.status or "",
    )


def verdict_of_error(exc: zerotouch.ZeroTouchError, intent: Intent, doing: str) -> Verdict:
    """The verdict of a request refused as a whole (nothing started)."""
    return Verdict(
        succeeded=False,
        device_id=intent.device_id,
        kind=kind_of_error(exc),
        sentence=change_failed_sentence(exc, doing),
    )


def shows_done(intent: Intent, device: zerotouch.Device | None) -> bool:
    """Whether the device, as the API holds it now, shows the change made."""
    if device is None:
        return False
    claim = device.claim_for(intent.section_type)
    if intent.action == Action.CLAIM:
        return bool(claim and claim.owner_company_id and int(claim.owner_company_id) == intent.customer_id)
    if intent.action == Action.UNCLAIM:
        if intent.vacation:  # the claim stays, in vacation mode until then
            return claim is None or bool(claim.vacation_mode_expire_time)
        return claim is None
    return all(device.metadata.entries.get(key, "") == value for key, value in intent.metadata.items())


def verdict_of_state(intent: Intent, device: zerotouch.Device | None, *, partner_id: str) -> Verdict:
    """The verdict that the device's state gives after an answer was lost: done when it shows the
    change; failed when it explains a refusal (claimed by another customer or reseller, unknown to
    zero-touch for an unclaim or a metadata change, not claimed for metadata); else send again."""
    device_id = int(device.device_id) if device is not None else None
    if shows_done(intent, device):
        return Verdict(succeeded=True, device_id=device_id)
    kind = _explained_failure(intent, device, partner_id)
    if kind is None:
        return Verdict(succeeded=False, device_id=device_id, send_again=True)
    return Verdict(succeeded=False, device_id=device_id, kind=kind, sentence=EXPLANATIONS[kind])


def _explained_failure(intent: Intent, device: zerotouch.Device | None, partner_id: str) -> str | None:
    if device is None:
        # Unknown to zero-touch: nothing the lost request did. A claim registers a new device, so it is
        # worth sending again; an unclaim or a metadata change would only be refused.
        return None if intent.action == Action.CLAIM else FailureKind.NOT_FOUND
    claim = device.claim_for(intent.section_type)
    if intent.action == Action.CLAIM and claim is not None:
        if claim.reseller_id and str(claim.reseller_id) != str(partner_id):
            return FailureKind.CLAIMED_BY_ANOTHER_RESELLER
        return FailureKind.CLAIMED_BY_ANOTHER_CUSTOMER
    if intent.action == Action.METADATA and claim is None:
        return FailureKind.NOT_OURS
    return None
