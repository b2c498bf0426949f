"""batches.drafts, a job's first step: the rows stored as a draft by the bulk writer as the ORM would
store them (and deleted with their job), nothing kept of a file refused part way, a customer named
before any job exists, and one scanned code checked as a row is. (The rules each row passes:
test_preflight.py.)"""

import io

import orjson
import pytest

from batches.drafts import CustomerNeeded, job_from_input, scan_check
from batches.models import BatchItem, BatchJob
from batches.parsing import FileRefused
from batches.preflight import BLOCK, ITEM_COLUMNS
from core.db import rows_writer
from devices.identifiers import luhn_check_digit
from devices.models import SectionType
from tests.batches.factories import ACME, android_imeis, make_job, unclaim_job
from tests.devices.factories import make_imei

pytestmark = pytest.mark.django_db


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
            "from_customer_id": None if number % 4 else 2**41 + number,
            "metadata": orjson.dumps({"ordernumber": text} if text else {}).decode(),
            "section_type": SectionType.SIM_LOCK if number % 2 else SectionType.ZERO_TOUCH,
            "simlock_profile_id": str(2**63 - number) if number % 2 else "",
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

    with rows_writer(BatchItem, ITEM_COLUMNS) as write:
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


# --- A file or a paste refused: nothing kept ---------------------------------------------------------


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


def test_a_file_that_cannot_be_read_keeps_nothing(world):
    with pytest.raises(FileRefused, match="not UTF-8"):
        job_from_input(
            action="claim",
            mode="file",
            customer=world["customer"],
            actor=None,
            upload=io.BytesIO("imei\n3576062\xe9\n".encode("latin-1")),
            upload_name="latin.csv",
        )
    assert not BatchJob.objects.exists() and not BatchItem.objects.exists()


def test_an_unclaim_names_its_customer_or_chooses_any_owner_explicitly(world):
    imei = android_imeis(world["customer"], 1)[0]

    with pytest.raises(CustomerNeeded, match="Choose the customer the devices are unclaimed from"):
        unclaim_job([imei], customer=None)

    assert not BatchJob.objects.exists()


# --- One scanned code -----------------------------------------------------------------------------


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
