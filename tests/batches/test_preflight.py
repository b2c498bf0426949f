"""The pre-flight's fast paths give what the plain paths give: items stored by the bulk writer read
back as the ORM stores them, the cache's answers against a small fleet, a refused file part way
through, one scanned code, and the claim form's rules for every row. (No emulator: the cache is
filled directly.)"""

import io

import orjson
import pytest

from batches.drafts import _item_writer, job_from_input, scan_check
from batches.models import BatchItem, BatchJob
from batches.parsing import FileRefused
from batches.preflight import BLOCK, ITEM_COLUMNS, cycle_collector_paused
from customers.models import Vendor
from devices.cache import cache_store_devices
from devices.claims import claim_request
from devices.identifiers import luhn_check_digit
from tests.devices.factories import api_device, make_customer, make_imei

pytestmark = pytest.mark.django_db

ACME, GLOBEX, INITECH = 501, 502, 601


@pytest.fixture
def fleet():
    """Three customers (one a vendor's) and five cached devices, as a sync would leave them."""
    vendor = Vendor.objects.create(company_id=77, name="Regional Phones")
    customers = {
        "acme": make_customer(ACME, "Acme Ltd"),
        "globex": make_customer(GLOBEX, "Globex"),
        "initech": make_customer(INITECH, "Initech", vendor=vendor),
    }
    cache_store_devices(
        [
            api_device(1, owner=ACME, serial="R58N1", metadata={"ordernumber": "SO-1001"}),
            api_device(2, owner=ACME, imei2=make_imei(900), serial="R58N2"),
            api_device(3, owner=GLOBEX, manufacturer="samsung", model="SM-S911B", serial="ab-12"),
            api_device(4, imei="", meid="A0000012345678", serial="ZX9"),
            api_device(5, serial="R58N5"),  # unclaimed
        ]
    )
    return customers


def make_job(text: str, *, action: str = "claim", customer=None, any_owner=False) -> BatchJob:
    return job_from_input(
        action=action,
        mode="file",
        customer=customer,
        any_owner=any_owner,
        actor=None,
        upload=io.BytesIO(text.encode()),
        upload_name="devices.csv",
    )


def verdicts(job: BatchJob) -> dict[int, tuple[str, str]]:
    return {item.row_number: (item.state, item.message) for item in job.items.order_by("row_number")}


# --- Storing items -----------------------------------------------------------------------------------

AWKWARD = [
    "tab\there",
    "line\nbreak",
    "carriage\rreturn",
    "back\\slash",
    "\\N",
    'say "hi"',
    "a,b;c",
    "Ünï ✓ 📱",
    "",
]


def item_rows(job_id: int) -> list[tuple]:
    """Items as the pre-flight hands them to the writer (``ITEM_COLUMNS``, JSON as text), with the
    characters that text formats escape, in every kind of column."""
    rows = []
    for number, text in enumerate(AWKWARD, start=2):
        raw = {"modemid": text, text or "(empty)": "value", "ordernumber": "SO-1"}
        fields = {
            "job_id": job_id,
            "row_number": number,
            "state": BatchItem.State.INVALID if number % 2 else BatchItem.State.PENDING,
            "imei": text[:32],
            "meid": "",
            "serial_number": text,
            "manufacturer": text,
            "model": "Pixel 8",
            "customer_id": None if number % 3 else 2**40 + number,
            "metadata": orjson.dumps({"ordernumber": text} if text else {}).decode(),
            "device_id": None if number % 2 else 2**62 + number,
            "failure_kind": "",
            "status": "",
            "message": f"Row {number}: {text}",
            "suggestion": text,
            "raw": orjson.dumps(raw).decode(),
        }
        rows.append(tuple(fields[name] for name in ITEM_COLUMNS))
    return rows


def stored(job: BatchJob) -> list[dict]:
    columns = [name for name in ITEM_COLUMNS if name != "job_id"]
    return list(job.items.order_by("row_number").values(*columns, "chunk_id"))


def test_the_bulk_writer_stores_items_as_the_orm_does():
    by_writer = BatchJob.objects.create(action="claim", chunk_size=10)
    by_orm = BatchJob.objects.create(action="claim", chunk_size=10)

    with _item_writer() as write:
        write(item_rows(by_writer.pk))
    BatchItem.objects.bulk_create(
        BatchItem(
            **{
                **dict(zip(ITEM_COLUMNS, row, strict=True)),
                "metadata": orjson.loads(row[ITEM_COLUMNS.index("metadata")]),
                "raw": orjson.loads(row[ITEM_COLUMNS.index("raw")]),
            }
        )
        for row in item_rows(by_orm.pk)
    )

    assert stored(by_writer) == stored(by_orm)
    assert len(stored(by_writer)) == len(AWKWARD)
    back = by_writer.items.get(row_number=3)
    assert back.raw == {"modemid": "line\nbreak", "line\nbreak": "value", "ordernumber": "SO-1"}
    assert back.metadata == {"ordernumber": "line\nbreak"} and back.chunk_id is None


def test_deleting_a_job_deletes_its_items_and_no_others(fleet):
    """The items' reference to their job has no database constraint; the ORM's cascade does the work."""
    kept = make_job(f"imei\n{make_imei(70001)}\n", customer=fleet["acme"])
    dropped = make_job(f"imei\n{make_imei(70002)}\n{make_imei(70003)}\n", customer=fleet["acme"])

    dropped.delete()

    assert not BatchItem.objects.filter(job_id=dropped.pk).exists()
    assert list(kept.items.values_list("imei", flat=True)) == [make_imei(70001)]


def test_a_file_refused_after_several_blocks_keeps_nothing(fleet):
    """The refusal comes while earlier blocks are being written: nothing of the file is kept, and
    the connection goes on working."""
    good = "\n".join(f"IMEI,{make_imei(80000 + n)},,,,ZERO_TOUCH,{ACME}," for n in range(3 * BLOCK))
    content = f"modemtype,modemid,serial,model,manufacturer,profiletype,owner,ordernumber\n{good}\n"
    broken = content.encode() + "IMEI,35é,,,,ZERO_TOUCH,,\n".encode("latin-1")

    with pytest.raises(FileRefused, match="not UTF-8"):
        job_from_input(
            action="claim",
            mode="file",
            customer=None,
            actor=None,
            upload=io.BytesIO(broken),
            upload_name="devices.csv",
        )

    assert not BatchJob.objects.exists() and not BatchItem.objects.exists()
    job = make_job(content)  # the same rows, without the broken line
    assert (job.rows, job.ready) == (3 * BLOCK, 3 * BLOCK)
    assert job.items.count() == 3 * BLOCK


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
        "Not claimed: zero-touch keeps metadata only on devices the reseller claimed.",
    )
    assert rows[6] == ("invalid", "Give an order number or a phone number to set.")


def test_scanned_codes_are_checked_as_rows_are(fleet):
    acme = fleet["acme"]
    good = make_imei(70030)
    typo = good[:-1] + str((int(good[-1]) + 1) % 10)
    body = "01234567890123"
    lost_zero = (body + str(luhn_check_digit(body)))[1:]  # an IMEI that lost its leading zero

    assert scan_check(code=good, action="claim", customer=acme).status == "ready"
    assert scan_check(code=make_imei(1), action="claim", customer=acme).status == "skip"
    theirs = scan_check(code=make_imei(3), action="claim", customer=acme)
    assert theirs.status == "error" and "Globex" in theirs.message
    wrong = scan_check(code=typo, action="claim", customer=acme)
    assert wrong.status == "error" and "check digit is wrong" in wrong.message
    zero = scan_check(code=lost_zero, action="claim", customer=acme)
    assert (zero.status, zero.suggestion) == ("error", "0" + lost_zero)
    assert scan_check(code=make_imei(5), action="unclaim", customer=acme).status == "skip"
    unnamed = scan_check(code=make_imei(5), action="unclaim", customer=None)
    assert unnamed.status == "error" and "Choose the customer" in unnamed.message


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
    request, errors = claim_request(customer=fleet["acme"], **form)

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
