"""Batch jobs made and moved along in the test's own process, as the pages, the worker and zero-touch
would: a job from a file or pasted lines, every chunk sent and polled to the end, a chunk's answer
long settled, and what the emulator says a device's owner is."""

import io
import time
from collections import Counter
from datetime import timedelta

from django.test import Client
from django.utils import timezone

from batches.drafts import job_from_input
from batches.models import BatchChunk, BatchItem, BatchJob
from batches.polling import chunk_poll
from batches.submission import chunk_submit_next
from devices.models import Device
from tests.devices.factories import emulator_device

# The customers of the small fleet (the ``fleet`` fixture of tests/batches/conftest.py).
ACME, GLOBEX, INITECH = 501, 502, 601


def make_job(
    text: str, *, action: str = "claim", customer=None, actor=None, any_owner=False, from_customer=None
) -> BatchJob:
    """A checked job (a draft) from the text of a CSV file."""
    return job_from_input(
        action=action,
        mode="file",
        customer=customer,
        any_owner=any_owner,
        from_customer=from_customer,
        actor=actor,
        upload=io.BytesIO(text.encode()),
        upload_name="devices.csv",
    )


def paste_job(text: str, **kwargs) -> BatchJob:
    return job_from_input(mode="paste", text=text, **{"actor": None, **kwargs})


def post_new(client: Client, **fields) -> object:
    data = {"action": "claim", "mode": "paste", "customer": "", "pasted": "", **fields}
    return client.post("/batches/new/", data)


def move_job(imeis: list[str], *, to, source=None, actor=None) -> BatchJob:
    """A checked move of these IMEIs (pasted, one a line) to customer ``to``, only from ``source``
    when it is given."""
    return job_from_input(
        action="move",
        mode="paste",
        text="\n".join(imeis) + "\n",
        customer=to,
        from_customer=source,
        actor=actor,
    )


def acted_on(emulator, method: str) -> Counter:
    """How often zero-touch acted on each device in requests of ``method`` (``unclaimAsync`` names
    devices by id, ``claimAsync`` by IMEI): requests it processed, answered or not."""
    done = Counter()
    for request in emulator.requests_log(method=method):
        if request["outcome"] in ("ok", "dropped_after_processing"):
            for entry in request["body"].get("unclaims") or request["body"].get("claims") or []:
                done[entry.get("deviceId") or entry["deviceIdentifier"].get("imei")] += 1
    return done


def unclaim_job(lines: list[str], **kwargs) -> BatchJob:
    return job_from_input(
        action="unclaim",
        mode="paste",
        actor=kwargs.pop("actor", None),
        text="\n".join(lines) + "\n",
        **kwargs,
    )


def run_to_the_end(job: BatchJob, emulator, *, rounds: int = 60) -> BatchJob:
    """What the worker does, in this process: send every chunk due, poll until every one is done, and
    send what comes due meanwhile (a move's claim half, which waits until its unclaim half is done)."""
    for _ in range(rounds):
        while chunk_submit_next(job.pk) is not None:
            pass
        emulator.complete_operations()
        for chunk in job.chunks.filter(state=BatchChunk.State.SUBMITTED):
            chunk_poll(chunk.pk)
        job.refresh_from_db()
        if job.finished:
            return job
        time.sleep(0.05)
    raise AssertionError(f"the job did not finish: {job.state}")


def settled(chunk: BatchChunk) -> None:
    """The chunk's request was sent long enough ago for any operation it started to have ended."""
    BatchChunk.objects.filter(pk=chunk.pk).update(
        due_at=None, attempted_at=timezone.now() - timedelta(hours=1)
    )


def items(job: BatchJob) -> dict[int, BatchItem]:
    return {item.row_number: item for item in job.items.all()}


def android_imeis(customer, count: int) -> list[str]:
    return list(
        Device.objects.filter(owner=customer)
        .exclude(device_type="DEVICE_TYPE_CHROME_OS")
        .exclude(imei="")
        .order_by("device_id")
        .values_list("imei", flat=True)[:count]
    )


def owner_in_emulator(emulator, imei: str) -> str | None:
    claims = emulator_device(emulator, imei).get("claims", [])
    zero_touch = [c for c in claims if c["sectionType"] == "SECTION_TYPE_ZERO_TOUCH"]
    return zero_touch[0]["ownerCompanyId"] if zero_touch else None


def accepted_devices(emulator) -> Counter:
    """How often each device reached zero-touch in a claimAsync the API processed (answered, or
    answered after its connection was dropped); requests refused by an injected fault never ran."""
    sent = Counter()
    for request in emulator.requests_log(method="partners.devices.claimAsync"):
        if request["outcome"] in ("ok", "dropped_after_processing"):
            sent.update(claim["deviceIdentifier"]["imei"] for claim in request["body"]["claims"])
    return sent


def claim_file(imeis: list[str]) -> str:
    return "imei,ordernumber\n" + "\n".join(f"{imei},SO-{n}" for n, imei in enumerate(imeis))
