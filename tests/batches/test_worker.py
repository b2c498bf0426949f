"""Batch jobs through real Celery worker and beat processes on the real broker, against the emulator:
a job with devices that succeed and fail, the zt_batch command, and a crash test (the worker SIGKILLed
again and again, API faults, dropped answers and an outage) that checks the invariant from the
emulator's request log: every item ends in exactly one terminal state and no device reaches zero-touch
twice for one job."""

import io
import json
import random
import time
from collections import Counter

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from batches.drafts import job_from_input
from batches.jobs import job_confirm
from batches.models import BatchChunk, BatchItem, BatchJob
from customers.models import Customer
from devices.models import Device
from devices.sync import sync_full
from tests.devices.factories import emulator_device, make_imei

pytestmark = pytest.mark.django_db(transaction=True)


def wait_until_finished(job: BatchJob, processes, *, timeout: float) -> BatchJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.finished:
            return job
        time.sleep(0.3)
    connection.close()  # a fresh connection, in case this one was reading an old snapshot
    states = Counter(job.chunks.values_list("state", flat=True))
    waiting = "\n".join(
        f"chunk {c.number}: {c.state}, {c.attempts} attempts, due {c.due_at}, {c.last_error}"
        for c in job.chunks.exclude(state=BatchChunk.State.DONE).order_by("number")
    )
    raise AssertionError(
        f"job {job.pk} still {job.state} (chunks {dict(states)}) at {time.strftime('%H:%M:%S')}\n"
        f"{waiting}\n{_trouble(processes.log_text())}\n{processes.log_text()[-6000:]}"
    )


def _trouble(log: str) -> str:
    """The log lines that speak of errors, warnings or locks, to tell why a job did not finish."""
    lines = [
        line
        for line in log.splitlines()
        if any(word in line for word in ("ERROR", "WARNING", "locked", "Traceback"))
    ]
    return "\n".join(lines[-60:])


def accepted_devices(emulator) -> Counter:
    """How often each device reached zero-touch in a claimAsync the API processed (answered, or
    answered after its connection was dropped); requests refused by an injected fault never ran."""
    sent = Counter()
    for request in emulator.requests_log(method="partners.devices.claimAsync"):
        if request["outcome"] in ("ok", "dropped_after_processing"):
            sent.update(claim["deviceIdentifier"]["imei"] for claim in request["body"]["claims"])
    return sent


@pytest.fixture
def customers(emulator):
    emulator.seed(customers=2, vendors=0, devices=10, random_seed=61)
    sync_full()
    return list(Customer.objects.order_by("name"))


def claim_file(imeis: list[str]) -> str:
    return "imei,ordernumber\n" + "\n".join(f"{imei},SO-{n}" for n, imei in enumerate(imeis))


def test_a_job_runs_through_a_real_worker_and_beat(processes, emulator, customers):
    customer, other = customers
    fresh = [make_imei(97000 + n) for n in range(80)]
    emulator.api(
        "POST",
        f"/v1/partners/{emulator.partner_id}/devices:claim",
        {
            "customerId": str(other.pk),
            "sectionType": "SECTION_TYPE_ZERO_TOUCH",
            "deviceIdentifier": {"imei": fresh[3]},
        },
    )
    emulator.set_operation_rate(400)  # operations take a while: polled more than once
    processes.start_worker()
    processes.start_beat()
    job = job_from_input(
        action="claim",
        mode="file",
        customer=customer,
        actor=None,
        upload=io.BytesIO(claim_file(fresh).encode()),
    )

    job = wait_until_finished(job_confirm(job=job, actor=None), processes, timeout=90)

    assert (job.state, job.succeeded, job.failed, job.pending) == ("done", 79, 1, 0)
    assert job.items.get(imei=fresh[3]).failure_kind == "other_customer"
    assert set(accepted_devices(emulator).values()) == {1}
    assert Device.objects.filter(imei__in=fresh, owner=customer).count() == 79
    assert emulator.stats()["methods"]["operations.get"]["200"] >= job.chunks.count()


def test_zt_batch_sends_a_file_and_waits_for_its_end(processes, emulator, customers, tmp_path, capsys):
    customer = customers[0]
    fresh = [make_imei(97500 + n) for n in range(30)]
    path = tmp_path / "order-7781.csv"
    path.write_text(claim_file(fresh) + "\n12345,bad\n")
    processes.start_worker()

    call_command("zt_batch", "claim", str(path), "--customer", str(customer.pk), "--yes", "--wait", "--json")

    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    job = BatchJob.objects.get(pk=summary["job"])
    assert summary == {
        "job": job.pk,
        "state": "done",
        "rows": 31,
        "ready": 30,
        "invalid": 1,
        "succeeded": 30,
        "failed": 0,
        "skipped": 0,
    }
    assert (job.source_name, job.created_by_name) == ("order-7781.csv", "")
    assert emulator_device(emulator, fresh[0])["claims"][0]["ownerCompanyId"] == str(customer.pk)


def test_zt_batch_without_yes_only_checks_and_refuses_unreadable_files(emulator, customers, tmp_path, capsys):
    path = tmp_path / "devices.csv"
    path.write_text("imei\n" + make_imei(97900) + "\n" + make_imei(97901)[:-1] + "0\n")

    call_command("zt_batch", "claim", str(path), "--customer", str(customers[0].pk))

    out = capsys.readouterr().out
    assert "2 rows, 1 ready, 1 with errors" in out and "row 3" in out and "check digit" in out
    assert "nothing was sent" in out
    assert emulator.requests_log(method="partners.devices.claimAsync") == []
    assert BatchJob.objects.get().state == "draft"  # it can still be sent from its page
    binary = tmp_path / "devices.xlsx"
    binary.write_bytes(b"PK\x03\x04" + bytes(200))
    with pytest.raises(CommandError, match="not a CSV file"):
        call_command("zt_batch", "claim", str(binary), "--customer", str(customers[0].pk), "--yes")
    nothing = tmp_path / "empty.csv"
    nothing.write_text("imei\n12\n")
    with pytest.raises(CommandError, match="No row of this job is ready"):
        call_command("zt_batch", "claim", str(nothing), "--customer", str(customers[0].pk), "--yes")


# Longer than the job's own deadline below, so that a job that does not end reports its chunks and the
# workers' errors rather than being cut off by the suite's 300 s limit.
@pytest.mark.timeout(480)
def test_a_killed_worker_and_api_faults_lose_no_device_and_send_none_twice(processes, emulator, customers):
    """The crash test: 300 devices in 12 chunks; the worker is SIGKILLed six times at random moments
    and restarted; the API fails 10% of calls with 500/503, drops 15% of answers after acting, and goes
    away entirely for a few seconds. The job still ends by itself, every item terminal, each device
    accepted by zero-touch once."""
    customer = customers[0]
    chooser = random.Random(7)
    fresh = [make_imei(98000 + n) for n in range(300)]
    emulator.set_operation_rate(150)
    faults = {
        "error_rate": 0.1,
        "error_codes": [500, 503],
        "drop_after_rate": 0.15,
        "methods": [
            "partners.devices.claimAsync",
            "operations.get",
            "partners.devices.get",
            "partners.devices.findByIdentifier",
        ],
        "random_seed": 7,
    }
    emulator.set_faults(**faults)
    job = job_from_input(
        action="claim",
        mode="file",
        customer=customer,
        actor=None,
        upload=io.BytesIO(claim_file(fresh).encode()),
    )
    processes.start_worker()
    processes.start_beat()
    job_confirm(job=job, actor=None)

    for kill in range(6):
        time.sleep(chooser.uniform(0.3, 2.0))
        processes.kill()
        if kill == 3:  # the API is unreachable for a while as well
            emulator.kill()
            time.sleep(3)
            emulator.start()
            emulator.set_operation_rate(150)
            emulator.set_faults(**faults)
        processes.start_worker()

    job = wait_until_finished(job, processes, timeout=360)  # a busy 2-core machine took 222 s

    states = Counter(job.items.values_list("state", flat=True))
    assert set(states) <= set(BatchItem.TERMINAL) and sum(states.values()) == 300
    assert job.succeeded + job.failed == 300 and job.pending == 0
    assert job.succeeded == 300, job.items.exclude(state="succeeded").values_list("imei", "message")[:5]
    sent = accepted_devices(emulator)
    assert set(sent) == set(fresh) and max(sent.values()) == 1, [imei for imei, n in sent.items() if n > 1]
    assert not job.chunks.exclude(state=BatchChunk.State.DONE).exists()
    # The faults did happen: answers were lost after zero-touch acted, and were reconciled.
    outcomes = Counter(r["outcome"] for r in emulator.requests_log(method="partners.devices.claimAsync"))
    assert outcomes["dropped_after_processing"] >= 1, outcomes
