"""The ``zt_batch`` command (batches/management/commands/zt_batch.py): a file sent through a real
worker and waited for, a check without ``--yes`` that sends nothing, unreadable files refused, and an
unclaim without a customer made from each device's owner. (What it prints from a hostile file:
tests/hostile/test_zt_batch_output.py.) A move with --json prints the keys every action prints. A
file's sectiontype and simlockprofileid columns claim in SIM lock, as on the pages."""

import json

import pytest
from django.core.management import CommandError, call_command

from batches.models import BatchJob
from devices.models import Device
from devices.sync import sync_full
from tests.batches.factories import android_imeis, claim_file, owner_in_emulator
from tests.devices.factories import emulator_device, make_imei

pytestmark = pytest.mark.django_db(transaction=True)

SIM_LOCK = "SECTION_TYPE_SIM_LOCK"


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


def test_zt_batch_moves_devices_to_another_customer_and_prints_the_same_json(
    processes, emulator, customers, tmp_path, capsys
):
    target, source = customers
    imeis = [make_imei(97700 + n) for n in range(3)]
    for imei in imeis:  # the source's devices, claimed in zero-touch and synced
        status, answer = emulator.api(
            "POST",
            f"/v1/partners/{emulator.partner_id}/devices:claim",
            {
                "customerId": str(source.pk),
                "sectionType": "SECTION_TYPE_ZERO_TOUCH",
                "deviceIdentifier": {"imei": imei},
            },
        )
        assert status == 200, answer
    sync_full()
    path = tmp_path / "move.csv"
    path.write_text("imei\n" + "\n".join(imeis) + "\n")
    processes.start_worker()

    call_command(
        "zt_batch", "move", str(path), "--customer", str(target.pk), "--from", str(source.pk), "--yes",
        "--wait", "--json",
    )  # fmt: skip

    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    job = BatchJob.objects.get(pk=summary["job"])
    n = len(imeis)
    assert summary == {
        "job": job.pk,
        "state": "done",
        "rows": n,
        "ready": n,
        "invalid": 0,
        "succeeded": n,
        "failed": 0,
        "skipped": 0,
    }
    assert (job.action, job.customer_id, job.from_customer_id) == ("move", target.pk, source.pk)
    assert [owner_in_emulator(emulator, imei) for imei in imeis] == [str(target.pk)] * n


def test_zt_batch_move_prints_where_from_and_refuses_from_for_other_actions(world, tmp_path, capsys):
    pioneer, riverside = world["customer"], world["other"]
    path = tmp_path / "move.csv"
    path.write_text("imei\n" + "\n".join(android_imeis(riverside, 2)) + f"\n{android_imeis(pioneer, 1)[0]}\n")

    call_command("zt_batch", "move", str(path), "--customer", str(pioneer.pk))

    out = capsys.readouterr().out
    assert "3 rows, 2 ready, 0 with errors, 1 with nothing to do." in out
    assert "Moved from whichever customer holds each device:" in out
    assert f"move 2 to {pioneer.name} ({pioneer.pk})" in out
    assert "nothing was sent" in out
    with pytest.raises(CommandError, match="--from is for moves only"):
        call_command(
            "zt_batch", "claim", str(path), "--customer", str(pioneer.pk), "--from", str(riverside.pk)
        )


# --- SIM lock: the file's sectiontype and simlockprofileid columns ---------------------------------------


def test_zt_batch_claims_each_row_in_the_section_its_file_names(
    processes, emulator, customers, tmp_path, capsys
):
    customer, held, fresh = customers[0], make_imei(97801), make_imei(97800)
    status, answer = emulator.api(  # the customer's device in zero-touch, synced
        "POST",
        f"/v1/partners/{emulator.partner_id}/devices:claim",
        {
            "customerId": str(customer.pk),
            "sectionType": "SECTION_TYPE_ZERO_TOUCH",
            "deviceIdentifier": {"imei": held},
        },
    )
    assert status == 200, answer
    sync_full()
    path = tmp_path / "sim-lock.csv"
    path.write_text(f"imei,sectiontype,simlockprofileid\n{held},SIM_LOCK,4242\n{fresh},,\n")
    processes.start_worker()

    call_command("zt_batch", "claim", str(path), "--customer", str(customer.pk), "--yes", "--wait", "--json")

    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["state"], summary["ready"], summary["succeeded"], summary["failed"]) == ("done", 2, 2, 0)
    [request] = emulator.requests_log(method="partners.devices.claimAsync")
    assert [(c["sectionType"], c.get("simlockProfileId")) for c in request["body"]["claims"]] == [
        (SIM_LOCK, "4242"),
        ("SECTION_TYPE_ZERO_TOUCH", None),
    ]
    held_claims = {c["sectionType"]: c["ownerCompanyId"] for c in emulator_device(emulator, held)["claims"]}
    assert held_claims == {"SECTION_TYPE_ZERO_TOUCH": str(customer.pk), SIM_LOCK: str(customer.pk)}
    assert owner_in_emulator(emulator, fresh) == str(customer.pk)
    assert Device.objects.get(imei=held).owner_id == customer.pk


def test_zt_batch_says_how_many_rows_act_in_sim_lock_and_why_a_row_is_refused(
    emulator, customers, tmp_path, capsys
):
    customer = customers[0]
    path = tmp_path / "sim-lock.csv"
    path.write_text(
        "imei,sectiontype,simlockprofileid\n"
        f"{make_imei(97810)},SIM_LOCK,7\n{make_imei(97811)},SIM_LOCK,\n{make_imei(97812)},,\n"
    )

    call_command("zt_batch", "claim", str(path), "--customer", str(customer.pk))

    out = capsys.readouterr().out
    assert "3 rows, 2 ready, 1 with errors" in out
    assert "In SIM lock: 1 of the rows to send (the others in zero-touch)." in out
    assert f"row 3 {make_imei(97811)}: A claim in SIM lock needs the id of your SIM-lock profile" in out
    assert emulator.requests_log(method="partners.devices.claimAsync") == []
