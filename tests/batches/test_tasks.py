"""batches.tasks through real Celery worker and beat processes on the real broker, against the emulator:
a job with devices that succeed and fail; a restarted worker taking back what its killed run was
sending, and carrying on the polls it had scheduled; and a crash test (the worker SIGKILLed again and
again, API faults, dropped answers and an outage) that checks the invariant from the emulator's request
log: every item ends in exactly one terminal state and no device reaches zero-touch twice for one
job."""

import io
import random
import time
from collections import Counter

import pytest
from django.db import connection

from batches.drafts import job_from_input
from batches.jobs import job_confirm
from batches.models import BatchChunk, BatchItem, BatchJob
from devices.models import Device
from tests.batches.factories import accepted_devices, claim_file, make_job
from tests.devices.factories import make_imei

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


def wait_for(condition, processes, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {timeout:.0f} s\n{processes.log_text()[-6000:]}")
        time.sleep(0.2)


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


def test_a_worker_started_again_takes_back_the_chunk_its_killed_run_was_sending(processes, emulator, world):
    """Killed while zero-touch held its request, the worker comes back under the same node name: the
    chunk is marked ``unknown`` at its start, long before the sweeper's deadline would."""
    processes.env["ZT_BATCH_DEADLINE"] = "3600"  # so that only the restart can take it back
    emulator.set_faults(latency_ms=20_000, methods=["partners.devices.claimAsync"])
    job = make_job(claim_file([make_imei(95300 + n) for n in range(3)]), customer=world["customer"])
    processes.start_worker()
    job_confirm(job=job, actor=None)
    chunk = job.chunks.get()
    wait_for(lambda: BatchChunk.objects.get(pk=chunk.pk).state == "submitting", processes)

    processes.kill()
    processes.start_worker()

    wait_for(lambda: BatchChunk.objects.get(pk=chunk.pk).state != "submitting", processes)
    chunk.refresh_from_db()
    # Marked unknown by the new run (the sweeper's deadline is an hour away, and no beat runs), then
    # perhaps already read: the devices are not there yet, zero-touch still holds the request.
    assert chunk.last_error == "The worker stopped while sending this chunk."
    assert chunk.state in ("unknown", "done"), chunk.state
    # The new run says so in its log (written just after it marks the chunk: wait for the line).
    wait_for(lambda: "half-sent by a stopped run" in processes.log_text(), processes, timeout=30)


def test_a_restarted_worker_carries_on_the_polls_its_killed_run_had_scheduled(processes, emulator, world):
    """Without beat: on Redis the killed run's scheduled polls die with it (held unacknowledged for
    the broker's visibility timeout, an hour); the next run enqueues what is due at its start, and the
    job ends. (The filesystem broker of the embedded default keeps them anyway.)"""
    emulator.set_operation_rate(20)  # 2 s for the chunk: its poll is scheduled, not yet run
    job = make_job(claim_file([make_imei(95600 + n) for n in range(40)]), customer=world["customer"])
    processes.start_worker()
    job_confirm(job=job, actor=None)
    wait_for(lambda: job.chunks.filter(state="submitted").exists(), processes)

    processes.kill()
    processes.start_worker()

    wait_for(lambda: BatchJob.objects.get(pk=job.pk).finished, processes)
    job.refresh_from_db()
    assert (job.state, job.succeeded) == ("done", 40)


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
