"""Batches in a real browser, with a real worker: upload, preview with errors, confirm, progress to
100%, results file; and scan mode with typed codes."""

import re

import pytest
from playwright.sync_api import expect

from batches.models import BatchJob
from customers.models import Customer
from devices.models import Device
from devices.sync import sync_full
from portal.roles import Role
from tests.batches.conftest import FAST_BATCH_VARIABLES
from tests.devices.factories import emulator_device, make_imei
from tests.processes import portal_processes


@pytest.fixture
def worker(live_server, emulator, settings, tmp_path):
    """A real Celery worker for the live server's jobs, with fast polling."""
    from portal.celery import app

    for name, value in FAST_BATCH_VARIABLES.items():
        setattr(settings, name, float(value))
    settings.ZT_BATCH_CHUNK_SIZE = 10
    with portal_processes(
        emulator_url=emulator.url,
        partner_id=str(emulator.partner_id),
        variables=FAST_BATCH_VARIABLES,
        tmp=tmp_path,
    ) as running:
        previous, app.conf.task_default_queue = app.conf.task_default_queue, running.queue
        running.start_worker()
        try:
            yield running
        finally:
            app.conf.task_default_queue = previous


@pytest.fixture
def customer(emulator, transactional_db):
    emulator.seed(customers=12, vendors=0, devices=10, random_seed=71)
    sync_full()
    return Customer.objects.order_by("-name").first()  # beyond the first ten by name


def choose_customer(page, customer: Customer) -> None:
    page.get_by_label("Customer", exact=True).press_sequentially(customer.name[:6], delay=30)
    page.locator(".picker-option", has_text=customer.name).click()


def test_upload_preview_confirm_progress_and_results(page, sign_in, emulator, customer, worker, tmp_path):
    fresh = [make_imei(99000 + n) for n in range(40)]
    typo = fresh[0][:-1] + str((int(fresh[0][-1]) + 1) % 10)
    path = tmp_path / "order-4411.csv"
    path.write_text(
        "IMEI;Order Number\n" + "\n".join(f"{imei};SO-4411" for imei in fresh) + f"\n{typo};SO-4411\n=1+1;x\n"
    )
    emulator.set_operation_rate(60)  # about a second per chunk: the bar is seen moving
    sign_in(Role.SALES)
    page.goto("/batches/")
    page.get_by_role("link", name="New batch").click()

    choose_customer(page, customer)
    page.get_by_label("CSV file").set_input_files(str(path))
    page.get_by_role("button", name="Check the rows").click()

    expect(page.get_by_role("heading", name="Checked: nothing has been sent yet")).to_be_visible()
    preview = page.locator("#preview")
    expect(preview).to_contain_text("42")  # rows
    expect(page.locator("#rows tbody tr")).to_have_count(2)  # the rows with errors, shown first
    expect(page.locator("#rows")).to_contain_text("check digit")
    with page.expect_download() as errors:
        page.get_by_role("link", name="Download them as CSV").click()
    assert "SO-4411" in errors.value.path().read_text(encoding="utf-8-sig")

    page.get_by_role("button", name="Send 40 devices to zero-touch").click()
    expect(page.locator("#progress")).to_be_visible()
    expect(page.locator("#progress progress")).to_have_attribute(
        "value", re.compile(r"^[1-9]"), timeout=30_000
    )
    expect(page.locator("#progress h2")).to_have_text("Finished", timeout=60_000)
    expect(page.locator("#progress")).to_contain_text("100%")
    expect(page.locator("#progress .count-ok dd")).to_have_text("40")

    with page.expect_download() as results:
        page.get_by_role("link", name="Download results CSV").click()
    text = results.value.path().read_text(encoding="utf-8-sig")
    assert text.splitlines()[0] == "IMEI,Order Number,row,result,failure,message,device_id,suggestion"
    assert text.count(",Done,") == 40 and "'=1+1" in text
    assert emulator_device(emulator, fresh[5])["claims"][0]["ownerCompanyId"] == str(customer.pk)
    page.goto("/batches/")
    expect(page.locator("tbody tr").first).to_contain_text("order-4411.csv")


def test_scan_mode_checks_each_code_as_it_is_scanned(page, sign_in, emulator, customer):
    fresh = make_imei(99100)
    already = Device.objects.filter(owner__isnull=False).exclude(imei="").first()
    customer = already.owner
    sign_in(Role.SALES)
    page.goto(f"/batches/new/?customer={customer.pk}")
    expect(page.get_by_label("Customer", exact=True)).to_have_value(customer.name)

    page.get_by_role("radio", name="Scan").check()
    scan = page.get_by_label("Scan a barcode")
    expect(scan).to_be_focused()
    for code in (fresh, fresh[:-1] + "0" if fresh[-1] != "0" else fresh[:-1] + "1", already.imei, fresh):
        scan.press_sequentially(code, delay=5)
        scan.press("Enter")  # as a scanner ends each code
    rows = page.locator("#scan-list [data-code]")
    expect(rows).to_have_count(3)  # the repeated scan is shown again, not added twice
    expect(page.locator("#scan-list [data-status=ready]")).to_contain_text("Ready")
    expect(page.locator("#scan-list [data-status=error]")).to_contain_text("check digit")
    expect(page.locator("#scan-list [data-status=skip]")).to_contain_text("nothing to do")
    expect(page.locator("#scan-count")).to_contain_text("3 scanned: 1 ready, 1 with a problem")
    expect(scan).to_be_focused()

    page.locator("#scan-list [data-status=error]").get_by_role("button", name="Remove").click()
    expect(rows).to_have_count(2)
    page.get_by_role("button", name="Check the rows").click()

    expect(page.locator("#preview")).to_contain_text("Ready to send")
    job = BatchJob.objects.get()
    assert (job.source, job.rows, job.ready, job.skipped) == ("scan", 2, 1, 1)
