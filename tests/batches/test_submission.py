"""batches.submission, the worker sending a job's chunks: a chunk marked before its request leaves, a
request that never left sent later, and a last look before sending that skips a device that changed
hands since the check."""

import zerotouch
from batches.jobs import job_confirm
from batches.models import BatchChunk
from batches.submission import chunk_submit_next
from devices.store import cache_store_devices
from tests.batches.factories import android_imeis, make_job, owner_in_emulator, run_to_the_end, unclaim_job
from tests.devices.factories import emulator_device, make_imei


def test_a_chunk_is_marked_submitting_before_its_request_leaves(world):
    job = job_confirm(job=make_job(f"imei\n{make_imei(93001)}\n", customer=world["customer"]), actor=None)
    chunk = job.chunks.get()
    seen_states = []

    class Watching:
        """A client whose send first looks at the database, as the API's side would see it."""

        partner_id = world["emulator"].partner_id

        def devices_claim_async(self, *, claims):
            seen_states.append(BatchChunk.objects.get(pk=chunk.pk).state)
            from core.api import zerotouch_client

            return zerotouch_client().devices_claim_async(claims=claims)

    chunk_submit_next(job.pk, client=Watching())

    assert seen_states == ["submitting"]
    chunk.refresh_from_db()
    assert chunk.state == "submitted" and chunk.operation_name.startswith("operations/")


def test_a_request_that_never_left_waits_and_is_sent_later(world):
    emulator = world["emulator"]
    job = job_confirm(job=make_job(f"imei\n{make_imei(93010)}\n", customer=world["customer"]), actor=None)
    emulator.set_faults(error_rate=1.0, error_codes=[429], methods=["partners.devices.claimAsync"])

    chunk = chunk_submit_next(job.pk)

    assert chunk.state == "pending" and chunk.due_at is not None and "busy" in chunk.last_error
    assert chunk_submit_next(job.pk) is None  # not due yet
    emulator.clear_faults()
    BatchChunk.objects.filter(pk=chunk.pk).update(due_at=None)
    job = run_to_the_end(job, emulator)
    assert (job.succeeded, job.failed) == (1, 0)


def test_a_device_that_changed_hands_after_the_check_is_skipped_before_sending(world, admin_user):
    emulator, pioneer, riverside = world["emulator"], world["customer"], world["other"]
    moving, staying = android_imeis(pioneer, 2)
    job = unclaim_job([moving, staying], customer=pioneer, actor=admin_user)
    assert job.ready == 2
    # Between the check and the send, the device moves to Riverside (a colleague, or a sync).
    for path, body in (
        ("devices:unclaim", {"deviceIdentifier": {"imei": moving}, "sectionType": "SECTION_TYPE_ZERO_TOUCH"}),
        (
            "devices:claim",
            {
                "customerId": str(riverside.pk),
                "sectionType": "SECTION_TYPE_ZERO_TOUCH",
                "deviceIdentifier": {"imei": moving},
            },
        ),
    ):
        status, answer = emulator.api("POST", f"/v1/partners/{emulator.partner_id}/{path}", body)
        assert status == 200, answer
    cache_store_devices([zerotouch.Device.from_json(emulator_device(emulator, moving))])

    job = run_to_the_end(job_confirm(job=job, actor=admin_user), emulator)

    moved = job.items.get(imei=moving)
    assert moved.state == "skipped"
    assert moved.message == (
        f"Claimed by {riverside.name} since the check, not by {pioneer.name}: left as it is."
    )
    assert (job.state, job.succeeded, job.failed, job.skipped, job.ready, job.pending) == (
        "done",
        1,
        0,
        1,
        1,
        0,
    )
    assert owner_in_emulator(emulator, moving) == str(riverside.pk)
    assert owner_in_emulator(emulator, staying) is None
    [request] = emulator.requests_log(method="partners.devices.unclaimAsync")
    assert len(request["body"]["unclaims"]) == 1
