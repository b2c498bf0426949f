"""The ``zt_batch`` command (batches/management/commands/zt_batch.py): a file sent through a real
worker and waited for, a check without ``--yes`` that sends nothing, unreadable files refused, and an
unclaim without a customer made from each device's owner. (What it prints from a hostile file:
tests/hostile/test_zt_batch_output.py.)"""

import json

import pytest
from django.core.management import CommandError, call_command

from batches.models import BatchJob
from tests.batches.factories import android_imeis, claim_file
from tests.devices.factories import emulator_device, make_imei

pytestmark = pytest.mark.django_db(transaction=True)


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


def test_zt_batch_unclaim_without_a_customer_unclaims_from_each_owner(world, tmp_path, capsys):
    pioneer, riverside = world["customer"], world["other"]
    ours, theirs = android_imeis(pioneer, 1)[0], android_imeis(riverside, 1)[0]
    path = tmp_path / "devices.csv"
    path.write_text(f"imei\n{ours}\n{theirs}\n")

    call_command("zt_batch", "unclaim", str(path))

    job = BatchJob.objects.get()
    assert (job.any_owner, job.ready) == (True, 2)
    out = capsys.readouterr().out
    assert "Unclaimed from whichever customer holds each device" in out
    assert (
        f"held by {pioneer.name} ({pioneer.pk})" in out
        and f"held by {riverside.name} ({riverside.pk})" in out
    )
