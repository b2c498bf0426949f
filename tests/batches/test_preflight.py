"""batches.preflight: every row checked before anything is sent, each refusal in words. The cache's
answers against a small fleet (no emulator: the cache is filled directly) and against a synced
emulator; the claim form's rules for every row; another customer's device refused for an unclaim, or
its owner listed when the person chose any owner; and whom each row of a Google-format file is for."""

import io

import pytest

from batches.drafts import CustomerNeeded, job_from_input
from batches.jobs import job_confirm
from batches.models import BatchJob
from batches.preflight import cycle_collector_paused
from batches.selectors import job_customers
from core.models import AuditEvent
from devices.claims import claim_check
from devices.identifiers import luhn_check_digit
from devices.models import Device
from tests.batches.factories import (
    ACME,
    GLOBEX,
    INITECH,
    android_imeis,
    items,
    make_job,
    owner_in_emulator,
    paste_job,
    run_to_the_end,
    unclaim_job,
)
from tests.devices.factories import make_imei

pytestmark = pytest.mark.django_db


def verdicts(job: BatchJob) -> dict[int, tuple[str, str]]:
    return {item.row_number: (item.state, item.message) for item in job.items.order_by("row_number")}


# --- The cache's answers -------------------------------------------------------------------------------


def test_claim_rows_against_the_cache(fleet):
    devices = {n: make_imei(n) for n in (1, 2, 3, 5)}
    text = "\n".join(
        [
            "imei,meid,serial,manufacturer,model,customer,ordernumber",
            f"{devices[1]},,,,,{ACME},SO-1001",  # 2 Acme's, same order number: nothing to do
            f"{devices[1]},,,,,{GLOBEX},",  # 3 the same device again
            f"{make_imei(900)},,,,,{ACME},",  # 4 the second SIM of Acme's device 2: nothing to do
            f"{devices[2]},,,,,{ACME},SO-2",  # 5 Acme's, a new order number: to send
            f"{devices[3]},,,,,{ACME},",  # 6 Globex's
            f",a0000012345678,,,,{ACME},",  # 7 the MEID-only device, unclaimed: to send
            f",,AB-12,samsung,SM-S911B,{ACME},",  # 8 a serial differs in case: a new device
            f",,ab-12,samsung,SM-S911B,{ACME},",  # 9 Globex's, by serial
            f",,R58N5,Google,Pixel 8,{ACME},",  # 10 unclaimed, by serial
            f"{devices[5]},,,,,{INITECH},",  # 11 a vendor's customer
            f"{make_imei(70010)},,,,,,",  # 12 no customer
        ]
    )

    job = make_job(text)

    rows = verdicts(job)
    assert rows[2] == ("skipped", "Already claimed for this customer: nothing to do.")
    assert rows[3] == ("invalid", "The same device as row 2: each device once per file.")
    assert rows[4][0] == "skipped"
    assert rows[5] == ("pending", "")
    assert rows[6] == (
        "invalid",
        f"Claimed by another customer, Globex (id {GLOBEX}): unclaim it there first.",
    )
    assert rows[7] == ("pending", "")
    assert rows[8] == ("pending", "")
    assert rows[9][0] == "invalid" and "Globex" in rows[9][1]
    assert rows[10] == ("pending", "")
    assert rows[11][0] == "invalid" and "only that vendor can claim" in rows[11][1]
    assert rows[12] == ("invalid", "Choose a customer.")
    assert (job.rows, job.ready, job.invalid, job.skipped) == (11, 4, 5, 2)
    ids = dict(job.items.values_list("row_number", "device_id"))
    assert (ids[2], ids[4], ids[7], ids[9], ids[10], ids[12]) == (1, 2, 4, 3, 5, None)


def test_unclaim_and_metadata_rows_against_the_cache(fleet):
    # From whichever customer holds each device: an explicit choice (tests/batches/test_ownership.py
    # has the unclaims for one named customer).
    unclaim = make_job(
        f"imei\n{make_imei(1)}\n{make_imei(5)}\n{make_imei(70020)}\n", action="unclaim", any_owner=True
    )
    metadata = make_job(
        "\n".join(
            [
                "imei,ordernumber,phonenumber",
                f"{make_imei(1)},SO-1001,",  # has it already
                f"{make_imei(1)[:-1]}{(int(make_imei(1)[-1]) + 1) % 10},SO-9,",  # check digit
                f"{make_imei(2)},SO-2,+441632960000",
                f"{make_imei(5)},SO-5,",  # not claimed
                f"{make_imei(3)},,",  # nothing to set
            ]
        ),
        action="metadata",
    )

    assert verdicts(unclaim) == {
        2: ("pending", ""),
        3: ("skipped", "Not claimed: nothing to unclaim."),
        4: ("pending", ""),
    }
    assert dict(unclaim.items.values_list("row_number", "customer_id")) == {2: ACME, 3: None, 4: None}
    rows = verdicts(metadata)
    assert rows[2] == ("skipped", "The device has these values already: nothing to do.")
    assert rows[3][0] == "invalid" and "check digit is wrong" in rows[3][1]
    assert rows[4] == ("pending", "")
    assert rows[5] == (
        "invalid",
        "Not claimed: zero-touch keeps metadata only on devices we claimed.",
    )
    assert rows[6] == ("invalid", "Give an order number or a phone number to set.")


def test_move_rows_against_the_cache(fleet):
    rows = [make_imei(1), make_imei(3), make_imei(5), make_imei(70030)]
    text = "\n".join(["imei", *rows])

    job = make_job(text, action="move", customer=fleet["globex"])

    assert verdicts(job) == {
        2: ("pending", ""),  # Acme's: moves from Acme to Globex
        3: ("skipped", "Already claimed for Globex: nothing to move."),
        4: ("invalid", "Not claimed: there is nothing to move it from. Use a claim instead."),
        5: (
            "invalid",
            "The portal's cache holds no such device, so it cannot tell whose it is to move it: find it "
            "on the Devices page (Look up in zero-touch) and try again.",
        ),
    }
    mover = job.items.get(row_number=2)
    assert (mover.from_customer_id, mover.customer_id, mover.device_id) == (ACME, GLOBEX, 1)
    assert [(c.name, c.rows) for c in job_customers(job)] == [("Globex", 1)]


def test_a_move_from_a_named_customer_refuses_anyone_elses_devices_in_words(fleet):
    text = f"imei\n{make_imei(1)}\n{make_imei(3)}\n"

    job = make_job(text, action="move", customer=fleet["acme"], from_customer=fleet["globex"])

    assert verdicts(job) == {
        2: ("invalid", "Claimed by Acme Ltd, not by Globex: left as it is."),
        3: ("pending", ""),
    }
    assert job.from_customer == fleet["globex"]


def test_a_move_needs_the_customer_it_goes_to_and_one_that_takes_claims(fleet):
    with pytest.raises(CustomerNeeded, match=r"Choose the customer the devices move to\."):
        make_job(f"imei\n{make_imei(1)}\n", action="move")

    job = make_job(f"imei\n{make_imei(1)}\n", action="move", customer=fleet["initech"])

    [(state, message)] = verdicts(job).values()
    assert state == "invalid"
    assert message == (
        "Initech is a customer of Regional Phones: only that vendor can claim devices for it in zero-touch."
    )


def test_preflight_explains_every_rejected_row_and_sends_nothing(world, admin_user):
    emulator, customer, other = world["emulator"], world["customer"], world["other"]
    theirs = Device.objects.filter(owner=other).first()
    ours = Device.objects.filter(owner=customer).first()
    good = make_imei(91001)
    typo = good[:-1] + str((int(good[-1]) + 3) % 10)
    body = "0135790246813"[:13].rjust(14, "0")  # an IMEI that begins with 0, as some TACs do
    lost_zero = body + str(luhn_check_digit(body))
    emulator.clear_requests_log()
    text = "\n".join(
        [
            "imei,meid,serial,manufacturer,model,ordernumber",
            f"{good},,,,,SO-1",  # 2 ready
            f"{typo},,,,,",  # 3 bad check digit
            "3.5064E+14,,,,,",  # 4 spreadsheet
            f"{lost_zero[1:]},,,,,",  # 5 lost leading zero
            ",A00000ZZZZ1234,,,,",  # 6 MEID not hex
            ",,R58N1234,,,",  # 7 serial without make and model
            ",,R58N5678,Google,pixel 8,",  # 8 wrong spelling of the model
            f"{theirs.imei},,,,,",  # 9 claimed by another customer
            f"{ours.imei},,,,,",  # 10 already this customer's: nothing to do
            f"{good},,,,,",  # 11 duplicate of row 2
        ]
    )

    job = make_job(text, customer=customer, actor=admin_user)

    rows = items(job)
    assert (job.state, job.rows, job.ready, job.invalid, job.skipped) == ("draft", 10, 1, 8, 1)
    assert rows[2].state == "pending" and rows[2].metadata == {"ordernumber": "SO-1"}
    assert "check digit is wrong" in rows[3].message and rows[3].suggestion == ""
    assert "scientific notation" in rows[4].message and "15 digits" not in rows[4].message
    assert "leading zero" in rows[5].message and rows[5].suggestion == lost_zero
    assert "A MEID is 14 hexadecimal characters" in rows[6].message
    assert "needs the manufacturer" in rows[7].message
    assert "'pixel 8' is spelt 'Pixel 8'" in rows[8].message and rows[8].suggestion == "Pixel 8"
    assert f"Claimed by another customer, {other.name}" in rows[9].message
    assert rows[10].state == "skipped" and "nothing to do" in rows[10].message
    assert "same device as row 2" in rows[11].message
    assert emulator.requests_log() == []  # nothing sent
    # The check itself is audited (issue: every step of a job is), nothing else happened.
    assert list(AuditEvent.objects.filter(action__startswith="batch.").values_list("action", flat=True)) == [
        "batch.create"
    ]


def test_metadata_rows_are_checked_against_the_cache(world):
    customer = world["customer"]
    chrome = Device.objects.filter(device_type="DEVICE_TYPE_CHROME_OS").first()
    claimed = (
        Device.objects.filter(owner=customer)
        .exclude(device_type="DEVICE_TYPE_CHROME_OS")
        .exclude(imei="")
        .first()
    )
    lines = ["imei,serial,manufacturer,model,ordernumber,phonenumber", f"{claimed.imei},,,,SO-1,"]
    if chrome is not None:
        lines.append(f",{chrome.serial_number},{chrome.manufacturer},{chrome.model},SO-2,")
    lines.append(f"{claimed.imei},,,,,")

    job = make_job("\n".join(lines), action="metadata")

    rows = items(job)
    assert rows[2].state == "pending"
    if chrome is not None:
        assert "ChromeOS device" in rows[3].message
    assert "Give an order number or a phone number" in rows[len(lines)].message


def test_phone_numbers_are_checked(world):
    job = paste_job(
        f"imei,phonenumber\n{make_imei(99300)},+44 (20) 7946-0000\n{make_imei(99301)},not a phone\n",
        action="claim",
        customer=world["customer"],
        actor=None,
    )

    rows = {item.row_number: item for item in job.items.all()}
    assert rows[2].state == "pending"
    assert rows[3].state == "invalid" and "'not a phone' is not a phone number" in rows[3].message


# --- Whose devices -------------------------------------------------------------------------------------


def test_an_unclaim_for_one_customer_refuses_another_customers_device(world, admin_user):
    emulator, pioneer, riverside = world["emulator"], world["customer"], world["other"]
    ours = android_imeis(pioneer, 2)
    theirs = android_imeis(riverside, 1)[0]

    job = unclaim_job([ours[0], theirs, ours[1]], customer=pioneer, actor=admin_user)

    rows = items(job)
    assert (job.ready, job.invalid) == (2, 1)
    assert rows[2].imei == theirs and rows[2].state == "invalid"
    assert rows[2].message == f"Claimed by {riverside.name}, not by {pioneer.name}: left as it is."
    assert [c.name for c in job_customers(job)] == [pioneer.name]
    job = run_to_the_end(job_confirm(job=job, actor=admin_user), emulator)

    assert (job.succeeded, job.failed) == (2, 0)
    assert owner_in_emulator(emulator, theirs) == str(riverside.pk)  # untouched
    assert owner_in_emulator(emulator, ours[0]) is None and owner_in_emulator(emulator, ours[1]) is None
    sent = [
        unclaim["deviceId"]
        for request in emulator.requests_log(method="partners.devices.unclaimAsync")
        for unclaim in request["body"]["unclaims"]
    ]
    assert str(Device.objects.get(imei=theirs).device_id) not in sent


def test_unclaiming_from_whoever_holds_each_device_lists_the_owners(world, admin_user):
    emulator, pioneer, riverside = world["emulator"], world["customer"], world["other"]
    ours, theirs = android_imeis(pioneer, 2), android_imeis(riverside, 1)

    job = unclaim_job([*ours, *theirs], customer=None, any_owner=True, actor=admin_user)

    assert (job.any_owner, job.ready, job.customers) == (True, 3, 2)
    assert [(c.name, c.rows) for c in job_customers(job)] == [(pioneer.name, 2), (riverside.name, 1)]
    run_to_the_end(job_confirm(job=job, actor=admin_user), emulator)
    assert [owner_in_emulator(emulator, imei) for imei in [*ours, *theirs]] == [None, None, None]


def test_google_format_names_the_customer_per_row(world):
    customer, vendor_customer = world["customer"], world["vendor_customer"]
    text = "\n".join(
        [
            "modemtype;modemid;serial;model;manufacturer;profiletype;owner;ordernumber",
            f"IMEI;{make_imei(91010)};;;;ZERO_TOUCH;{customer.pk};SO-7",
            f"IMEI;{make_imei(91011)};;;;ZERO_TOUCH;99999;",
            f"IMEI;{make_imei(91012)};;;;ZERO_TOUCH;{vendor_customer.pk};",
            f"IMEI;{make_imei(91013)};;;;SIM_LOCK;{customer.pk};",
            f"IMEI;{make_imei(91014)};;;;KNOX;{customer.pk};",
        ]
    )

    job = make_job(text)

    rows = items(job)
    assert rows[2].state == "pending" and rows[2].customer_id == customer.pk
    assert "not known to the portal" in rows[3].message
    assert "only that vendor can claim" in rows[4].message
    # Google's SIM_LOCK profile type is a claim in SIM lock, which needs the SIM-lock profile's id.
    assert (
        rows[5].message
        == "A claim in SIM lock needs the id of your SIM-lock profile (a number such as 12345)."
    )
    assert rows[6].message == (
        "Profile type 'KNOX' is not a section: write ZERO_TOUCH or SIM_LOCK (or leave it empty for "
        "zero-touch)."
    )


def test_a_google_format_file_says_whom_each_row_is_for(world):
    pioneer, riverside = world["customer"], world["other"]
    text = "\n".join(
        [
            "modemtype,modemid,serial,model,manufacturer,profiletype,owner",
            f"IMEI,{make_imei(97001)},,,,ZERO_TOUCH,{pioneer.pk}",
            f"IMEI,{make_imei(97002)},,,,ZERO_TOUCH,{pioneer.pk}",
            f"IMEI,{make_imei(97003)},,,,ZERO_TOUCH,{riverside.pk}",
        ]
    )

    job = job_from_input(
        action="claim",
        mode="file",
        customer=None,
        actor=None,
        upload=io.BytesIO(text.encode()),
        upload_name="google.csv",
    )

    assert (job.customer_id, job.customers, job.ready) == (None, 2, 3)
    assert [(c.name, c.rows) for c in job_customers(job)] == [(pioneer.name, 2), (riverside.name, 1)]


# --- One set of rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cells", "form"),
    [
        (f"{make_imei(70040)[:-1]}0,,,,", {"imei": make_imei(70040)[:-1] + "0"}),
        (",A00000ZZZZ1234,,,", {"meid": "A00000ZZZZ1234"}),
        (",,R58N77,,Pixel 8", {"serial_number": "R58N77", "model": "Pixel 8"}),
        (
            f"{make_imei(70041)},,,,,{'x' * 129}",
            {"imei": make_imei(70041), "metadata": {"ordernumber": "x" * 129}},
        ),
        (
            f"{make_imei(70042)},,,,,SO\x011",
            {"imei": make_imei(70042), "metadata": {"ordernumber": "SO\x011"}},
        ),
    ],
)
def test_a_row_is_refused_with_the_claim_forms_sentences(fleet, cells, form):
    """devices.claims holds the rules: a batch row and the one-device form say the same thing."""
    text = f"imei,meid,serial,manufacturer,model,ordernumber\n{cells}\n"
    job = make_job(text, customer=fleet["acme"])
    request, errors = claim_check(customer=fleet["acme"], **form)

    assert request is None
    [item] = job.items.all()
    assert item.state == "invalid"
    assert item.message == " ".join(errors.values())


def test_the_cycle_collector_is_back_as_it_was():
    import gc

    assert gc.isenabled()
    with cycle_collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with cycle_collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()
    with pytest.raises(ZeroDivisionError), cycle_collector_paused():
        1 / 0  # noqa: B018
    assert gc.isenabled()
