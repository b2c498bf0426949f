"""Batches in SIM lock (issue 24): a file's ``sectiontype`` (or Google's ``profiletype``) and
``simlockprofileid`` columns make a claim or an unclaim act on that section for that row. Checked by
the pre-flight against the claim in the row's section, sent with the section and the profile id per
device (one chunk may mix sections), settled from the right section after a lost answer, recorded as
SIM-lock events without touching the device's zero-touch customer, and said on the job's page and in
its results file. Against the real emulator, or a cache filled directly where only the pre-flight is
at stake. (``zt_batch`` with the columns: test_zt_batch.py.)"""

import csv
import email as email_message
import email.policy as email_policy
import io

import pytest

import zerotouch
from batches.drafts import job_from_input
from batches.emails import job_email_send
from batches.jobs import job_confirm, job_retry_failed
from batches.models import BatchItem, BatchJob, JobEmail
from batches.parsing import parse_csv
from batches.reconciliation import chunk_reconcile
from batches.submission import chunk_submit_next
from core.roles import Role
from customers.models import Customer
from devices.claims import claim_check
from devices.models import Device, DeviceEvent, FailureKind
from devices.store import cache_store_devices
from tests.batches.factories import (
    ACME,
    GLOBEX,
    items,
    make_job,
    run_to_the_end,
    settled,
)
from tests.devices.factories import api_device, emulator_device, make_imei

pytestmark = pytest.mark.django_db

ZERO_TOUCH = "SECTION_TYPE_ZERO_TOUCH"
SIM_LOCK = "SECTION_TYPE_SIM_LOCK"


def claims_by_section(emulator, imei: str) -> dict[str, str]:
    device = emulator_device(emulator, imei) or {}
    return {claim["sectionType"]: claim["ownerCompanyId"] for claim in device.get("claims", [])}


def cached_claims(imei: str) -> dict[str, str]:
    device = Device.objects.get(imei=imei)
    return {claim["sectionType"]: claim["ownerCompanyId"] for claim in device.claims}


def held_without_sim_lock(customer, count: int) -> list[Device]:
    """The customer's cached Android devices (zero-touch claims) without a SIM-lock claim."""
    devices = (
        Device.objects.filter(owner=customer)
        .exclude(device_type="DEVICE_TYPE_CHROME_OS")
        .exclude(imei="")
        .order_by("device_id")
    )
    found = [d for d in devices if all(c["sectionType"] != SIM_LOCK for c in d.claims)]
    assert len(found) >= count, "the seed gives the customer enough devices"
    return found[:count]


def sim_lock_claim(emulator, imei: str, customer, profile: str = "99") -> None:
    """A SIM-lock claim made in zero-touch, outside the batch under test."""
    status, body = emulator.api(
        "POST",
        f"/v1/partners/{emulator.partner_id}/devices:claim",
        {
            "customerId": str(customer.pk),
            "sectionType": SIM_LOCK,
            "simlockProfileId": profile,
            "deviceIdentifier": {"imei": imei},
        },
    )
    assert status == 200, body


def sent_items(emulator, method: str, key: str) -> dict[str, dict]:
    """Each device of the async requests of ``method`` as zero-touch received it, by IMEI or id."""
    sent = {}
    for request in emulator.requests_log(method=method):
        for entry in request["body"][key]:
            sent[entry.get("deviceId") or entry["deviceIdentifier"]["imei"]] = entry
    return sent


# --- Claims in both sections, one file -----------------------------------------------------------------


def test_a_file_mixing_sections_claims_each_device_in_its_own_and_keeps_the_zero_touch_owner(
    world, client_as
):
    emulator, customer, other = world["emulator"], world["customer"], world["other"]
    ours, theirs = held_without_sim_lock(customer, 1)[0], held_without_sim_lock(other, 1)[0]
    fresh_zero_touch, fresh_sim_lock = make_imei(98001), make_imei(98002)
    text = "\n".join(
        [
            "imei,owner,sectiontype,profiletype,simlockprofileid,ordernumber",
            f"{fresh_zero_touch},{customer.pk},,,,SO-1",  # no section: zero-touch
            f"{fresh_sim_lock},{customer.pk},SIM_LOCK,,4242,",  # a new device, SIM lock only
            f"{ours.imei},{customer.pk},section_type_sim_lock,,0077,",  # its zero-touch customer's
            f"{theirs.imei},{customer.pk},,SIM_LOCK,123,",  # Google's column; zero-touch stays other's
        ]
    )

    job = make_job(text)

    assert (job.ready, job.invalid, job.skipped) == (4, 0, 0)
    rows = items(job)
    assert [(rows[n].section_type, rows[n].simlock_profile_id) for n in (2, 3, 4, 5)] == [
        (ZERO_TOUCH, ""),
        (SIM_LOCK, "4242"),
        (SIM_LOCK, "77"),  # as the API writes an int64
        (SIM_LOCK, "123"),
    ]
    job = run_to_the_end(job_confirm(job=job, actor=None), emulator)

    assert (job.state, job.succeeded, job.failed) == ("done", 4, 0)
    assert job.chunks.count() == 1  # the sections mix in one request, a section per device
    sent = sent_items(emulator, "partners.devices.claimAsync", "claims")
    assert [(sent[imei]["sectionType"], sent[imei].get("simlockProfileId")) for imei in sent] == [
        (ZERO_TOUCH, None),
        (SIM_LOCK, "4242"),
        (SIM_LOCK, "77"),
        (SIM_LOCK, "123"),
    ]
    assert claims_by_section(emulator, fresh_zero_touch) == {ZERO_TOUCH: str(customer.pk)}
    assert claims_by_section(emulator, fresh_sim_lock) == {SIM_LOCK: str(customer.pk)}
    assert claims_by_section(emulator, ours.imei) == {
        ZERO_TOUCH: str(customer.pk),
        SIM_LOCK: str(customer.pk),
    }
    assert claims_by_section(emulator, theirs.imei) == {ZERO_TOUCH: str(other.pk), SIM_LOCK: str(customer.pk)}
    # The cache: each claim in its section, the zero-touch customer (the device's owner) untouched.
    assert Device.objects.get(imei=fresh_zero_touch).owner_id == customer.pk
    assert Device.objects.get(imei=fresh_sim_lock).owner_id is None
    assert Device.objects.get(pk=ours.pk).owner_id == customer.pk
    assert Device.objects.get(pk=theirs.pk).owner_id == other.pk
    assert cached_claims(theirs.imei) == {ZERO_TOUCH: str(other.pk), SIM_LOCK: str(customer.pk)}
    events = {e.details["identifier"]: e for e in DeviceEvent.objects.filter(batch_id=job.pk)}
    assert events[fresh_zero_touch].kind == DeviceEvent.Kind.CLAIMED
    for imei, profile in ((fresh_sim_lock, "4242"), (ours.imei, "77"), (theirs.imei, "123")):
        event = events[imei]
        assert (event.kind, event.customer_id, event.outcome) == (
            DeviceEvent.Kind.SIM_LOCK_CLAIMED,
            customer.pk,
            DeviceEvent.Outcome.SUCCEEDED,
        )
        assert event.details["simlock_profile_id"] == profile

    page = client_as(Role.SALES).get(f"/batches/{job.pk}/").text
    assert "<strong>In SIM lock:</strong> 3 rows (marked below) claim the device" in page
    assert page.count('<span class="pill">SIM lock</span>') == 3 and "profile 4242" in page
    results = client_as(Role.SALES).get(f"/batches/{job.pk}/results.csv")
    table = list(csv.DictReader(io.StringIO(b"".join(results.streaming_content).decode().lstrip("\ufeff"))))
    assert [(row["imei"], row["section"], row["result"]) for row in table] == [
        (fresh_zero_touch, "Zero-touch", "Done"),
        (fresh_sim_lock, "SIM lock", "Done"),
        (ours.imei, "SIM lock", "Done"),
        (theirs.imei, "SIM lock", "Done"),
    ]


def test_a_zero_touch_job_keeps_its_results_file_as_it_was(fleet, client_as):
    job = make_job(f"imei\n{make_imei(98010)}\n", customer=fleet["acme"])

    text = b"".join(client_as(Role.SALES).get(f"/batches/{job.pk}/results.csv").streaming_content).decode()

    assert text.splitlines()[0] == "\ufeffimei,row,result,failure,message,device_id,suggestion"
    assert "In SIM lock" not in client_as(Role.SALES).get(f"/batches/{job.pk}/").text


# --- The pre-flight, row by row ----------------------------------------------------------------------


@pytest.fixture
def locked(fleet):
    """The small fleet, and three devices with SIM-lock claims: 6 (Acme's in SIM lock only), 7
    (Acme's in zero-touch and SIM lock), 8 (Globex's SIM lock on Acme's zero-touch device)."""

    def device(device_id: int, claims: list[tuple[str, int]]) -> zerotouch.Device:
        body = api_device(device_id).to_json()
        body["claims"] = [
            {"sectionType": section, "ownerCompanyId": str(owner), "resellerId": "1000001"}
            for section, owner in claims
        ]
        return zerotouch.Device.from_json(body)

    cache_store_devices(
        [
            device(6, [(SIM_LOCK, ACME)]),
            device(7, [(ZERO_TOUCH, ACME), (SIM_LOCK, ACME)]),
            device(8, [(ZERO_TOUCH, ACME), (SIM_LOCK, GLOBEX)]),
        ]
    )
    return fleet


def checked(job: BatchJob) -> dict[int, tuple[str, str]]:
    return {item.row_number: (item.state, item.message) for item in job.items.order_by("row_number")}


def test_claim_rows_are_judged_against_the_claim_in_their_section(locked):
    text = "\n".join(
        [
            "imei,customer,sectiontype,simlockprofileid",
            f"{make_imei(6)},{ACME},SIM_LOCK,5",  # 2 Acme's SIM lock already: nothing to do
            f"{make_imei(1)},{ACME},SIM_LOCK,5",  # 3 Acme's zero-touch device, no SIM lock: to send
            f"{make_imei(8)},{ACME},SIM_LOCK,5",  # 4 SIM lock Globex's: refused
            f"{make_imei(6)},{GLOBEX},,",  # 5 the same device in the other section
            f"{make_imei(3)},{ACME},,",  # 6 zero-touch Globex's: refused as always
            f"{make_imei(5)},{ACME},zero touch,",  # 7 unclaimed, zero-touch spelt loosely: to send
        ]
    )

    job = make_job(text)

    rows = checked(job)
    assert rows[2] == ("skipped", "Already claimed in SIM lock for this customer: nothing to do.")
    assert rows[3] == ("pending", "")
    assert rows[4] == (
        "invalid",
        f"Its SIM lock is claimed by another customer, Globex (id {GLOBEX}): unclaim the SIM lock there "
        "first.",
    )
    assert rows[5] == (
        "invalid",
        "The same device as row 2, in the other section: each device once per file; send its claim in "
        "the other section in a file of its own.",
    )
    assert rows[6] == (
        "invalid",
        f"Claimed by another customer, Globex (id {GLOBEX}): unclaim it there first.",
    )
    assert rows[7] == ("pending", "")
    assert items(job)[7].section_type == ZERO_TOUCH


def test_a_zero_touch_claim_of_a_device_locked_for_another_customer_is_its_own_business(locked):
    """Device 6 has a SIM-lock claim (Acme's) and no zero-touch claim: a zero-touch claim for Globex
    is judged against the zero-touch section alone."""
    job = make_job(f"imei,customer\n{make_imei(6)},{GLOBEX}\n")

    assert checked(job)[2] == ("pending", "")


@pytest.mark.parametrize(
    ("cells", "said"),
    [
        ("KNOX,", "Section type 'KNOX' is not a section: write ZERO_TOUCH or SIM_LOCK"),
        ("SECTION_TYPE_UNSPECIFIED,", "Section type 'SECTION_TYPE_UNSPECIFIED' is not a section"),
        ("SIM_LOCK,", "A claim in SIM lock needs the id of your SIM-lock profile (a number such as 12345)."),
        ("ZERO_TOUCH,4242", "A SIM-lock profile id is only for a claim in SIM lock"),
        (",4242", "A SIM-lock profile id is only for a claim in SIM lock"),
        ("SIM_LOCK,abc", "The SIM-lock profile id is a whole number such as 12345; 'abc' is not."),
        ("SIM_LOCK,-7", "The SIM-lock profile id is a whole number such as 12345; '-7' is not."),
        ("SIM_LOCK,12.5", "The SIM-lock profile id is a whole number such as 12345; '12.5' is not."),
        ("SIM_LOCK,000", "The SIM-lock profile id is 1 or more; 0 names no profile."),
        ("SIM_LOCK,9223372036854775808", "The SIM-lock profile id is at most 9223372036854775807"),
    ],
)
def test_a_wrong_section_or_profile_id_is_refused_in_the_claim_forms_words(locked, cells, said):
    job = make_job(f"imei,customer,sectiontype,simlockprofileid\n{make_imei(70100)},{ACME},{cells}\n")

    state, message = checked(job)[2]

    assert state == "invalid" and said in message
    section, profile = cells.split(",")
    if section.upper() in ("SIM_LOCK", "ZERO_TOUCH", ""):  # a section the claim form offers: its words
        _, errors = claim_check(
            customer=locked["acme"],
            imei=make_imei(70100),
            section_type=SIM_LOCK if section == "SIM_LOCK" else ZERO_TOUCH,
            simlock_profile_id=profile,
        )
        assert message == errors["simlock_profile_id"]


def test_the_largest_profile_id_and_the_sections_spellings_are_accepted(locked):
    text = "\n".join(
        [
            "imei,customer,section type,SIM lock profile id",
            f"{make_imei(70201)},{ACME},SIM_LOCK,9223372036854775807",
            f"{make_imei(70202)},{ACME},section_type_sim_lock,1",
            f"{make_imei(70203)},{ACME},Sim-Lock,2",
            f"{make_imei(70204)},{ACME},SECTION_TYPE_ZERO_TOUCH,",
        ]
    )

    job = make_job(text)

    assert (job.ready, job.invalid) == (4, 0)
    assert [(i.section_type, i.simlock_profile_id) for i in job.items.order_by("row_number")] == [
        (SIM_LOCK, "9223372036854775807"),
        (SIM_LOCK, "1"),
        (SIM_LOCK, "2"),
        (ZERO_TOUCH, ""),
    ]


def test_the_section_and_profile_type_columns_must_agree(locked):
    text = "imei,customer,sectiontype,profiletype,simlockprofileid\n"
    text += f"{make_imei(70300)},{ACME},SIM_LOCK,ZERO_TOUCH,5\n"

    assert checked(make_job(text))[2] == (
        "invalid",
        "The section type and the profile type name different sections: keep one.",
    )


def test_unclaim_rows_are_judged_against_the_claim_in_their_section(locked):
    text = "\n".join(
        [
            "imei,sectiontype,simlockprofileid",
            f"{make_imei(7)},SIM_LOCK,5",  # 2 Acme's SIM lock: to send (a claim file's profile: not read)
            f"{make_imei(1)},SIM_LOCK,",  # 3 Acme's zero-touch device without a SIM lock: nothing to do
            f"{make_imei(8)},SIM_LOCK,",  # 4 SIM lock Globex's, zero-touch Acme's: refused
            f"{make_imei(2)},,5",  # 5 a zero-touch row with a profile id: refused
            f"{make_imei(6)},,",  # 6 zero-touch unclaim, the device has only a SIM lock: nothing to do
        ]
    )

    job = make_job(text, action="unclaim", customer=locked["acme"])

    rows = checked(job)
    assert rows[2] == ("pending", "")
    assert (items(job)[2].customer_id, items(job)[2].simlock_profile_id) == (ACME, "")
    assert rows[3] == ("skipped", "No SIM-lock claim: nothing to unclaim.")
    assert rows[4] == ("invalid", "Its SIM lock is claimed by Globex, not by Acme Ltd: left as it is.")
    assert rows[5][0] == "invalid" and "only for a claim in SIM lock" in rows[5][1]
    assert rows[6] == ("skipped", "Not claimed: nothing to unclaim.")


def test_unclaiming_sim_locks_from_whoever_holds_them_names_each_holder(locked):
    text = f"imei,sectiontype\n{make_imei(7)},SIM_LOCK\n{make_imei(8)},SIM_LOCK\n"

    job = make_job(text, action="unclaim", any_owner=True)

    assert job.ready == 2
    assert [i.customer_id for i in job.items.order_by("row_number")] == [ACME, GLOBEX]


def test_a_move_is_zero_touch_only(locked):
    text = f"imei,sectiontype,simlockprofileid\n{make_imei(1)},SIM_LOCK,5\n{make_imei(2)},,5\n"

    rows = checked(make_job(text, action="move", customer=locked["globex"]))

    assert rows[2] == (
        "invalid",
        "A move is for zero-touch claims only: change a SIM lock with a claim or an unclaim batch.",
    )
    assert rows[3][0] == "invalid" and "only for a claim in SIM lock" in rows[3][1]


def test_a_metadata_job_ignores_the_section_columns(locked):
    text = (
        f"imei,sectiontype,profiletype,simlockprofileid,ordernumber\n{make_imei(7)},KNOX,SIM_LOCK,x,SO-77\n"
    )

    job = make_job(text, action="metadata")

    assert checked(job)[2] == ("pending", "")
    assert items(job)[2].section_type == ZERO_TOUCH
    assert job.ignored_columns == ["sectiontype", "profiletype", "simlockprofileid"]


# --- Unclaims in SIM lock, sent --------------------------------------------------------------------------


def test_an_unclaim_in_sim_lock_removes_only_the_sim_lock(world):
    emulator, customer, other = world["emulator"], world["customer"], world["other"]
    ours = held_without_sim_lock(customer, 2)
    locker = make_job(
        "imei,sectiontype,simlockprofileid\n" + "".join(f"{d.imei},SIM_LOCK,9\n" for d in ours),
        customer=other,
    )
    run_to_the_end(job_confirm(job=locker, actor=None), emulator)
    assert cached_claims(ours[0].imei) == {ZERO_TOUCH: str(customer.pk), SIM_LOCK: str(other.pk)}

    job = make_job(
        "imei,sectiontype\n" + "".join(f"{d.imei},SIM_LOCK\n" for d in ours), action="unclaim", customer=other
    )
    assert job.ready == 2  # the SIM lock is the other customer's; the zero-touch claim does not matter
    job = run_to_the_end(job_confirm(job=job, actor=None), emulator)

    assert (job.succeeded, job.failed) == (2, 0)
    sent = sent_items(emulator, "partners.devices.unclaimAsync", "unclaims")
    assert {entry["sectionType"] for entry in sent.values()} == {SIM_LOCK}
    for device in ours:
        assert claims_by_section(emulator, device.imei) == {ZERO_TOUCH: str(customer.pk)}
        device.refresh_from_db()
        assert device.owner_id == customer.pk
        assert [c["sectionType"] for c in device.claims] == [ZERO_TOUCH]
        event = device.events.filter(batch_id=job.pk).get()
        assert (event.kind, event.customer_id, event.details["previous_owner"]) == (
            DeviceEvent.Kind.SIM_LOCK_UNCLAIMED,
            other.pk,
            other.pk,
        )


def test_the_last_check_before_sending_reads_the_sim_lock(world):
    """A SIM lock unclaimed by someone else between the check and the sending is left out, in words."""
    emulator, customer = world["emulator"], world["customer"]
    [device] = held_without_sim_lock(customer, 1)
    run_to_the_end(
        job_confirm(
            job=make_job(f"imei,sectiontype,simlockprofileid\n{device.imei},SIM_LOCK,9\n", customer=customer),
            actor=None,
        ),
        emulator,
    )
    job = job_confirm(
        job=make_job(f"imei,sectiontype\n{device.imei},SIM_LOCK\n", action="unclaim", customer=customer),
        actor=None,
    )
    device.refresh_from_db()
    Device.objects.filter(pk=device.pk).update(
        claims=[c for c in device.claims if c["sectionType"] != SIM_LOCK]
    )

    job = run_to_the_end(job, emulator)

    [item] = job.items.all()
    assert (item.state, item.message) == (
        "skipped",
        f"Its SIM lock was unclaimed since the check (it was {customer.name}'s): left as it is.",
    )
    assert emulator.requests_log(method="partners.devices.unclaimAsync") == []


# --- A lost answer ----------------------------------------------------------------------------------------


def lose_the_answer(emulator, job: BatchJob):
    emulator.set_faults(
        drop_after_rate=1.0, methods=["partners.devices.claimAsync", "partners.devices.unclaimAsync"]
    )
    chunk = chunk_submit_next(job.pk)
    assert chunk.state == "unknown"
    emulator.clear_faults()
    emulator.complete_operations()
    settled(chunk)
    return chunk


def test_a_lost_answer_of_a_mixed_claim_is_settled_from_each_devices_section(world):
    """Had the reading looked at the zero-touch claim, the device the other customer holds in
    zero-touch would read as a refusal, and the fresh one as not claimed."""
    emulator, customer, other = world["emulator"], world["customer"], world["other"]
    [theirs] = held_without_sim_lock(other, 1)
    fresh_sim_lock, fresh_zero_touch = make_imei(98101), make_imei(98102)
    text = (
        "imei,sectiontype,simlockprofileid\n"
        f"{theirs.imei},SIM_LOCK,31\n{fresh_sim_lock},SIM_LOCK,31\n{fresh_zero_touch},,\n"
    )
    job = job_confirm(job=make_job(text, customer=customer), actor=None)
    chunk = lose_the_answer(emulator, job)

    assert chunk_reconcile(chunk.pk).settled is True

    job.refresh_from_db()
    assert (job.state, job.succeeded, job.failed) == ("done", 3, 0)
    assert len(emulator.requests_log(method="partners.devices.claimAsync")) == 1  # never sent again
    assert claims_by_section(emulator, theirs.imei) == {ZERO_TOUCH: str(other.pk), SIM_LOCK: str(customer.pk)}
    assert cached_claims(theirs.imei) == {ZERO_TOUCH: str(other.pk), SIM_LOCK: str(customer.pk)}
    assert Device.objects.get(pk=theirs.pk).owner_id == other.pk
    assert Device.objects.get(imei=fresh_sim_lock).owner_id is None
    kinds = {event.details["identifier"]: event.kind for event in DeviceEvent.objects.filter(batch_id=job.pk)}
    assert kinds == {
        theirs.imei: DeviceEvent.Kind.SIM_LOCK_CLAIMED,
        fresh_sim_lock: DeviceEvent.Kind.SIM_LOCK_CLAIMED,
        fresh_zero_touch: DeviceEvent.Kind.CLAIMED,
    }


def test_a_lost_answer_of_a_sim_lock_unclaim_reads_the_sim_lock_not_the_zero_touch_claim(world):
    emulator, customer = world["emulator"], world["customer"]
    ours = held_without_sim_lock(customer, 3)
    for device in ours:
        sim_lock_claim(emulator, device.imei, customer)
    # The cache learns of the SIM locks as a refresh would (the sync's listing is zero-touch's).
    cache_store_devices(
        [zerotouch.Device.from_json(emulator_device(emulator, device.imei)) for device in ours]
    )
    job = make_job(
        "imei,sectiontype\n" + "".join(f"{d.imei},SIM_LOCK\n" for d in ours),
        action="unclaim",
        customer=customer,
    )
    job = job_confirm(job=job, actor=None)
    chunk = lose_the_answer(emulator, job)

    assert chunk_reconcile(chunk.pk).settled is True

    job.refresh_from_db()
    assert (job.state, job.succeeded, job.failed) == ("done", 3, 0)
    assert len(emulator.requests_log(method="partners.devices.unclaimAsync")) == 1
    for device in ours:
        assert claims_by_section(emulator, device.imei) == {ZERO_TOUCH: str(customer.pk)}
        device.refresh_from_db()
        assert (device.owner_id, [c["sectionType"] for c in device.claims]) == (customer.pk, [ZERO_TOUCH])


def test_a_lost_sim_lock_claim_that_never_happened_is_sent_again_and_a_refusal_is_explained(world):
    emulator, customer, other = world["emulator"], world["customer"], world["other"]
    taken, fresh = make_imei(98201), make_imei(98202)
    sim_lock_claim(emulator, taken, other)  # zero-touch refuses the SIM lock of another customer
    job = job_confirm(
        job=make_job(
            f"imei,sectiontype,simlockprofileid\n{taken},SIM_LOCK,5\n{fresh},SIM_LOCK,5\n", customer=customer
        ),
        actor=None,
    )
    # The connection fails before zero-touch acts on the request.
    emulator.set_faults(drop_rate=1.0, methods=["partners.devices.claimAsync"])
    chunk = chunk_submit_next(job.pk)
    assert chunk.state == "unknown"
    emulator.clear_faults()
    settled(chunk)

    assert chunk_reconcile(chunk.pk).settled is True

    rows = {item.imei: item for item in job.items.all()}
    assert (rows[taken].state, rows[taken].failure_kind) == (
        "failed",
        FailureKind.CLAIMED_BY_ANOTHER_CUSTOMER,
    )
    assert rows[fresh].state == "pending"  # waits in a new chunk, to be sent again
    job = run_to_the_end(job, emulator)
    assert (job.succeeded, job.failed) == (1, 1)
    assert claims_by_section(emulator, fresh) == {SIM_LOCK: str(customer.pk)}


# --- Retrying, and who is told ------------------------------------------------------------------------------


def test_a_retry_keeps_each_rows_section_and_profile(locked):
    job = job_confirm(
        job=make_job(
            f"imei,customer,sectiontype,simlockprofileid\n{make_imei(1)},{ACME},SIM_LOCK,0042\n{make_imei(5)},{ACME},,\n"
        ),
        actor=None,
    )
    # Both rows failed for a reason a retry may change (as a temporary problem at zero-touch leaves them).
    job.items.update(state=BatchItem.State.FAILED, failure_kind=FailureKind.TEMPORARY)
    BatchJob.objects.filter(pk=job.pk).update(state=BatchJob.State.DONE, failed=2)

    retry = job_retry_failed(job=BatchJob.objects.get(pk=job.pk), actor=None)

    assert retry.ready == 2
    assert [(i.imei, i.section_type, i.simlock_profile_id) for i in retry.items.order_by("row_number")] == [
        (make_imei(1), SIM_LOCK, "42"),
        (make_imei(5), ZERO_TOUCH, ""),
    ]


def test_the_customer_is_emailed_of_its_zero_touch_devices_only(world, settings, tmp_path):
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "OPTIONS": {"file_path": str(tmp_path)},
        }
    }
    emulator, customer = world["emulator"], world["customer"]
    Customer.objects.filter(pk=customer.pk).update(notification_emails=["ops@pioneer.example"])
    locked_only = make_job(
        f"imei,sectiontype,simlockprofileid\n{make_imei(98301)},SIM_LOCK,5\n", customer=customer
    )
    run_to_the_end(job_confirm(job=locked_only, actor=None), emulator)
    mixed = make_job(
        f"imei,sectiontype,simlockprofileid\n{make_imei(98302)},SIM_LOCK,5\n{make_imei(98303)},,\n",
        customer=customer,
    )
    run_to_the_end(job_confirm(job=mixed, actor=None), emulator)

    assert not JobEmail.objects.filter(job=locked_only).exists()  # nothing enrolled in zero-touch
    [email] = JobEmail.objects.filter(job=mixed, kind=JobEmail.Kind.CUSTOMER)
    assert job_email_send(email.pk).sent
    [written] = list(tmp_path.iterdir())
    message = email_message.message_from_bytes(written.read_bytes(), policy=email_policy.default)
    assert message["Subject"].strip() == f"1 device registered for zero-touch enrollment for {customer.name}"
    [attachment] = list(message.iter_attachments())
    devices = attachment.get_payload(decode=True).decode()
    assert make_imei(98303) in devices and make_imei(98302) not in devices


# --- The new-batch page and its template -------------------------------------------------------------------


def test_the_new_batch_page_explains_the_columns_and_offers_a_template(client_as):
    client = client_as(Role.SALES)

    page = client.get("/batches/new/").text
    template = client.get("/batches/templates/sim-lock.csv")

    assert "<code>sectiontype</code>" in page and "<code>simlockprofileid</code>" in page
    assert 'href="/batches/templates/sim-lock.csv"' in page
    assert template.status_code == 200
    [row] = list(parse_csv(io.BytesIO(template.content)))
    assert (row.fields["section_type"], row.fields["simlock_profile_id"]) == ("SIM_LOCK", "12345")


def test_the_template_checks_as_a_sim_lock_claim_once_its_example_row_is_replaced(locked, client_as):
    text = client_as(Role.SALES).get("/batches/templates/sim-lock.csv").content.decode().lstrip("\ufeff")
    job = job_from_input(
        action="claim",
        mode="file",
        customer=locked["acme"],
        actor=None,
        upload=io.BytesIO(text.replace("490154203237518", make_imei(70400)).encode()),
        upload_name="sim-lock.csv",
    )

    assert job.ready == 1
    assert (job.items.get().section_type, job.items.get().simlock_profile_id) == (SIM_LOCK, "12345")
