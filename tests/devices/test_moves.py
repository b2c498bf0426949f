"""devices.recorder's moves and how the device history reads them: a move that ended is one "moved"
event (from, to); a move whose claim failed leaves an "unclaimed" event dated when the device was
unclaimed, naming the move; a move whose unclaim failed is a failed move. The cache follows each half
as zero-touch confirms it. (The batches that make them, against the emulator: tests/batches.)"""

from datetime import timedelta

import pytest
from django.utils import timezone

import zerotouch
from core.outcomes import Outcome
from devices.changes import Action, Intent, Verdict
from devices.models import Device, DeviceEvent
from devices.recorder import (
    ChangeRecord,
    devices_record,
    devices_record_move_claims,
    devices_record_move_unclaims,
)
from devices.sections import device_section_claims
from devices.selectors import customer_claims_per_week, device_history
from devices.store import cache_store_devices
from reports.models import Order, OrderLine
from reports.rollups import rollups_rebuild
from tests.devices.factories import api_device, make_customer, make_imei

pytestmark = pytest.mark.django_db

ACME, GLOBEX = 501, 502
RESELLER = 1000001


@pytest.fixture
def moving():
    """Acme's device 1, about to move to Globex, and that move as the batch asks for it."""
    make_customer(ACME, "Acme Ltd")
    make_customer(GLOBEX, "Globex")
    cache_store_devices([api_device(1, owner=ACME, metadata={"ordernumber": "SO-7"})])
    return Intent(
        action=Action.MOVE,
        identifier=zerotouch.DeviceIdentifier(imei=make_imei(1)),
        device_id=1,
        customer_id=GLOBEX,
        from_customer_id=ACME,
    )


def record_unclaims(move: Intent, verdict: Verdict) -> None:
    devices_record_move_unclaims(changes=[(move, verdict)], actor=None, batch_id=9, reseller_id=RESELLER)


def record_claims(move: Intent, verdict: Verdict, *, unclaimed_at=None) -> None:
    devices_record_move_claims(
        changes=[(move, verdict)], unclaimed_at=unclaimed_at, actor=None, batch_id=9, reseller_id=RESELLER
    )


def lines(device: Device) -> list[tuple[str, list[str]]]:
    return [(entry.event.title, entry.lines) for entry in device_history(device)]


def test_a_move_is_one_event_from_one_customer_to_the_other(moving):
    record_unclaims(moving, Verdict(succeeded=True, device_id=1))
    device = Device.objects.get()
    assert device.owner_id is None and not device.events.exists()  # unclaimed; no event yet

    record_claims(moving, Verdict(succeeded=True, device_id=1))

    device.refresh_from_db()
    assert device.owner_id == GLOBEX
    [(title, said)] = lines(device)
    assert title == "Moved"
    assert said[:2] == [f"Moved from Acme Ltd ({ACME}) to Globex ({GLOBEX})", f"Identifier: {make_imei(1)}"]
    event = device.events.get()
    assert (event.kind, event.customer_id, event.order_number) == ("moved", GLOBEX, "SO-7")
    # A move counts as a claim for the customer the device went to.
    assert sum(week.claims for week in customer_claims_per_week(GLOBEX)) == 1
    assert sum(week.claims for week in customer_claims_per_week(ACME)) == 0
    # The device page's claim card dates Globex's claim from the move.
    assert device_section_claims(device).zero_touch.since == event.created_at


def test_a_move_whose_claim_failed_leaves_an_unclaimed_event_from_when_it_was_unclaimed(moving):
    record_unclaims(moving, Verdict(succeeded=True, device_id=1))
    unclaimed_at = timezone.now() - timedelta(minutes=5)
    failed = Verdict(
        succeeded=False, device_id=1, kind="other", sentence="Zero-touch refused it: Injected fault (400)."
    )

    record_claims(moving, failed, unclaimed_at=unclaimed_at)

    device = Device.objects.get()
    assert device.owner_id is None  # the history below must not say otherwise
    event = device.events.get()
    assert (event.kind, event.outcome, event.customer_id, event.created_at) == (
        "unclaimed",
        "succeeded",
        ACME,
        unclaimed_at,
    )
    [(title, said)] = lines(device)
    assert title == "Unclaimed"
    assert said == [
        f"Part of a move to Globex ({GLOBEX}), whose claim failed: the device was left unclaimed.",
        f"Identifier: {make_imei(1)}",
        f"Previous customer: Acme Ltd ({ACME})",
        "Zero-touch refused it: Injected fault (400).",
    ]


def test_a_move_whose_unclaim_failed_left_the_device_and_is_a_failed_move(moving):
    refused = Verdict(
        succeeded=False, device_id=1, kind="not_ours", sentence="Zero-touch says this is not yours."
    )

    record_unclaims(moving, refused)

    device = Device.objects.get()
    assert device.owner_id == ACME
    [(title, said)] = lines(device)
    assert title == "Move failed"
    assert said[0] == f"Not moved from Acme Ltd ({ACME}) to Globex ({GLOBEX})"
    assert said[-1] == "Zero-touch says this is not yours."
    assert device.events.get().failure_kind == "not_ours"


def test_a_device_claimed_by_someone_else_between_the_halves_keeps_a_true_history(moving):
    record_unclaims(moving, Verdict(succeeded=True, device_id=1))
    unclaimed_at = timezone.now() - timedelta(seconds=30)
    # Between the halves, a colleague claims the (unclaimed) device for Acme again on its page.
    claim = Intent(action=Action.CLAIM, identifier=moving.identifier, device_id=1, customer_id=ACME)
    devices_record(
        changes=[
            ChangeRecord(
                intent=claim,
                outcome=Outcome.SUCCEEDED,
                device_id=1,
                label=make_imei(1),
                details={"customer": ACME},
                apply=True,
            )
        ],
        actor=None,
        source=DeviceEvent.Source.UI,
        reseller_id=RESELLER,
    )
    taken = Verdict(
        succeeded=False, device_id=1, kind="other_customer", sentence="Claimed by another customer."
    )

    record_claims(moving, taken, unclaimed_at=unclaimed_at)

    device = Device.objects.get()
    assert device.owner_id == ACME
    # Newest first: the colleague's claim, after the move's unclaim; the device is Acme's, as it says.
    assert [title for title, _ in lines(device)] == ["Claimed", "Unclaimed"]


def test_a_moved_devices_order_line_is_claimed_for_its_new_customer_as_a_rebuild_counts_it(moving):
    record_unclaims(moving, Verdict(succeeded=True, device_id=1))
    record_claims(moving, Verdict(succeeded=True, device_id=1))
    counted = list(Order.objects.values("number", "customer_id", "claimed", "unclaimed", "failed"))
    lines = list(OrderLine.objects.values("device_key", "customer_id", "state"))

    rollups_rebuild()

    assert counted == [{"number": "SO-7", "customer_id": GLOBEX, "claimed": 1, "unclaimed": 0, "failed": 0}]
    assert lines == [{"device_key": make_imei(1), "customer_id": GLOBEX, "state": "claimed"}]
    assert list(Order.objects.values("number", "customer_id", "claimed", "unclaimed", "failed")) == counted
    assert list(OrderLine.objects.values("device_key", "customer_id", "state")) == lines
