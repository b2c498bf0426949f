"""Batches in a real browser, with a real worker: upload, preview with errors, confirm, progress to
100%, results file; and scan mode with typed codes."""

import re

import pytest
from playwright.sync_api import expect

from batches.models import BatchJob
from core.roles import Role
from customers.models import Customer
from devices.models import Device
from devices.sync import sync_full
from tests.batches.conftest import FAST_BATCH_VARIABLES
from tests.devices.factories import emulator_device, make_imei
from tests.e2e.conftest import tab_to
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
        running.start_beat()  # as in production: the sweeper carries on what a lost message left
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


# --- Scan mode: the customer chosen late, duplicates, a reload, serial numbers (issue 20, item 8) --------


def scan_codes(page, *codes: str) -> None:
    scan = page.get_by_label("Scan a barcode")
    for code in codes:
        scan.press_sequentially(code, delay=5)
        scan.press("Enter")  # as a scanner ends each code


def test_scans_made_before_the_customer_is_chosen_are_checked_again_when_it_is(page, sign_in, customer):
    first, second = make_imei(99200), make_imei(99201)
    sign_in(Role.SALES)
    page.goto("/batches/new/")
    page.get_by_role("radio", name="Scan").check()
    scan_codes(page, first, second)
    rows = page.locator("#scan-list [data-code]")
    expect(rows).to_have_count(2)
    expect(page.locator("#scan-list [data-status=error]")).to_have_count(2)
    expect(rows.first).to_contain_text("Choose a customer")

    choose_customer(page, customer)
    expect(page.locator("#scan-list [data-status=ready]")).to_have_count(2)
    expect(page.locator("#scan-count")).to_contain_text("2 scanned: 2 ready, 0 with a problem")

    page.get_by_role("radio", name="Set metadata").check()  # the action too
    expect(page.locator("#scan-list [data-status=error]")).to_have_count(2)
    expect(rows.first).to_contain_text("A scan gives no order or phone number")
    page.get_by_role("radio", name="Claim", exact=True).check()
    expect(page.locator("#scan-list [data-status=ready]")).to_have_count(2)


def test_a_duplicate_scan_is_said_in_words_and_the_list_survives_a_reload(page, sign_in, customer):
    codes = [make_imei(99210 + n) for n in range(3)]
    sign_in(Role.SALES)
    page.goto(f"/batches/new/?customer={customer.pk}")
    page.get_by_role("radio", name="Scan").check()
    scan_codes(page, *codes)
    expect(page.locator("#scan-list [data-status=ready]")).to_have_count(3)

    scan_codes(page, codes[1])
    expect(page.get_by_role("alert")).to_have_text("Scanned already (line 2): each device once.")
    rows = page.locator("#scan-list [data-code]")
    expect(rows).to_have_count(3)
    expect(rows.filter(has_text=codes[1]).locator("[data-scan-line]")).to_have_text("2")

    page.reload()
    expect(page.get_by_label("Scan a barcode")).to_be_visible()
    expect(rows).to_have_count(3)
    expect(page.locator("#scan-list [data-status=checking]")).to_have_count(0)  # checked again
    assert [row.get_attribute("data-code") for row in rows.all()] == codes[::-1]  # newest first
    expect(page.locator("#scan-count")).to_contain_text("3 scanned")

    # A list that was sent does not come back to the next new batch.
    page.get_by_role("button", name="Check the rows").click()
    expect(page.locator("#preview")).to_be_visible()
    page.goto("/batches/new/")
    page.get_by_role("radio", name="Scan").check()
    expect(page.locator("#scan-count")).to_have_text("No device scanned yet.")


def test_a_serial_number_is_scanned_with_its_manufacturer_and_model(page, sign_in, customer):
    imei = make_imei(99220)
    sign_in(Role.SALES)
    page.goto(f"/batches/new/?customer={customer.pk}")
    page.get_by_role("radio", name="Scan").check()

    scan_codes(page, "TB-7001")
    expect(page.locator("#scan-list [data-code='TB-7001']")).to_contain_text(
        "A serial number needs its manufacturer and model: type them above, then scan it again."
    )
    page.get_by_label("Manufacturer").fill("Zebra")
    page.get_by_label("Model").fill("ET40")
    page.get_by_label("Model").press("Enter")  # back to scanning, not sending the form
    expect(page.get_by_label("Scan a barcode")).to_be_focused()
    scan_codes(page, "TB-7001")  # again, now with its manufacturer and model
    expect(page.get_by_role("alert")).to_have_text("Scanned again (line 1): checked again.")
    scan_codes(page, imei, "TB-7002")
    expect(page.locator("#scan-list [data-status=ready]")).to_have_count(3)
    expect(page.locator("#scan-list [data-code='TB-7002']")).to_contain_text("Zebra ET40")
    expect(page.locator(f"#scan-list [data-code='{imei}']")).not_to_contain_text("Zebra")

    page.get_by_role("button", name="Check the rows").click()
    expect(page.locator("#preview")).to_contain_text("Ready to send")
    job = BatchJob.objects.get()
    assert (job.source, job.rows, job.ready) == ("scan", 3, 3)
    sent = job.items.order_by("row_number").values_list("serial_number", "imei", "manufacturer", "model")
    assert list(sent) == [
        ("TB-7001", "", "Zebra", "ET40"),
        ("", imei, "", ""),
        ("TB-7002", "", "Zebra", "ET40"),
    ]


# --- Unclaim from the customer named, or from whoever holds each device; Google's owner column; the
# --- customer refused on the form; a discarded paste back in the form (issue 21) ----------------------


@pytest.fixture
def holders(emulator, transactional_db):
    """Two own customers with Android devices in the cache: ``a`` beyond the picker's first ten by name,
    with two devices, and ``b`` with one."""
    from devices.models import DeviceType

    emulator.seed(customers=12, vendors=0, devices=150, random_seed=83)
    sync_full()

    def androids(customer: Customer) -> list[str]:
        """Its Android devices with an IMEI, claimed in zero-touch's section only (no SIM lock)."""
        devices = (
            Device.objects.filter(owner=customer).exclude(imei="").exclude(device_type=DeviceType.CHROME_OS)
        )
        imeis = devices.order_by("imei").values_list("imei", flat=True)
        return [imei for imei in imeis if len(emulator_device(emulator, imei).get("claims", [])) == 1]

    by_name = list(Customer.objects.filter(vendor__isnull=True).order_by("name_folded", "company_id"))
    assert len(by_name) > 10, "the picker lists ten customers at a time"
    a = next(customer for customer in by_name[10:] if len(androids(customer)) >= 2)
    b = next(customer for customer in by_name[:10] if customer.name != a.name and androids(customer))
    return {"a": a, "b": b, "a_imeis": androids(a)[:2], "b_imei": androids(b)[0]}


def pick_customer_by_typing(page, customer: Customer) -> None:
    """Type the start of the customer's name into the picker and choose that customer from the list."""
    box = page.get_by_label("Customer", exact=True)
    first, second = customer.name.split()[:2]
    box.press_sequentially(f"{first} {second[:2]}", delay=30)
    option = page.locator(f".picker-option[data-id='{customer.pk}']")
    expect(option).to_contain_text(customer.name)
    option.click()
    expect(box).to_have_value(customer.name)
    expect(page.locator("input[name=customer]")).to_have_value(str(customer.pk))


def test_unclaim_touches_only_the_devices_of_the_customer_named(page, sign_in, emulator, holders, worker):
    a, b = holders["a"], holders["b"]
    a_imeis, b_imei = holders["a_imeis"], holders["b_imei"]
    sign_in(Role.SALES)
    page.goto("/batches/")
    page.get_by_role("link", name="New batch").click()
    page.get_by_role("radio", name="Unclaim").check()
    pick_customer_by_typing(page, a)
    page.get_by_role("radio", name="Paste").check()
    page.get_by_label("Identifiers or CSV").fill("\n".join([a_imeis[0], b_imei, a_imeis[1]]))
    page.get_by_role("button", name="Check the rows").click()

    expect(page.get_by_role("heading", name="Checked: nothing has been sent yet")).to_be_visible()
    preview = page.locator("#preview")
    expect(preview.locator(".count-ok")).to_contain_text("Ready to send")
    expect(preview.locator(".count-ok dd")).to_have_text("2")
    expect(preview.locator(".count-bad dd")).to_have_text("1")
    error_rows = page.locator("#rows tbody tr")
    expect(error_rows).to_have_count(1)  # the rows with errors, shown first
    expect(error_rows.first).to_contain_text(b_imei)
    expect(error_rows.first).to_contain_text(f"Claimed by {b.name}, not by {a.name}: left as it is.")

    page.get_by_role("button", name="Send 2 devices to zero-touch").click()
    expect(page.locator("#progress")).to_be_visible()
    expect(page.locator("#progress h2")).to_have_text("Finished", timeout=60_000)
    expect(page.locator("#progress .count-ok")).to_contain_text("Done")
    expect(page.locator("#progress .count-ok dd")).to_have_text("2")

    assert emulator_device(emulator, b_imei)["claims"][0]["ownerCompanyId"] == str(b.pk)
    for imei in a_imeis:
        assert emulator_device(emulator, imei).get("claims", []) == [], imei
    job = BatchJob.objects.get()
    assert (job.action, job.customer_id, job.any_owner, job.succeeded) == ("unclaim", a.pk, False, 2)


def test_unclaim_from_whichever_customer_holds_each_device_is_a_choice_made_explicitly(
    page, sign_in, holders
):
    a, b = holders["a"], holders["b"]
    sign_in(Role.SALES)
    page.goto("/batches/new/")
    whoever = page.get_by_label("Unclaim from whichever customer holds each device")
    expect(whoever).to_be_hidden()  # Claim is chosen
    page.get_by_role("radio", name="Unclaim").check()
    expect(whoever).to_be_visible()
    page.get_by_role("radio", name="Set metadata").check()
    expect(whoever).to_be_hidden()
    page.get_by_role("radio", name="Unclaim").check()
    whoever.check()
    page.get_by_role("radio", name="Paste").check()
    page.get_by_label("Identifiers or CSV").fill(
        "\n".join([holders["a_imeis"][0], holders["b_imei"], holders["a_imeis"][1]])
    )
    page.get_by_role("button", name="Check the rows").click()

    preview = page.locator("#preview")
    expect(preview.locator(".count-ok dd")).to_have_text("3")
    expect(preview.locator(".count-bad dd")).to_have_text("0")
    expect(preview.get_by_role("heading", name="Devices of 2 customers")).to_be_visible()
    customers = preview.locator("table tbody tr")
    expect(customers).to_have_count(2)
    expect(customers.filter(has_text=a.name).locator("td").nth(1)).to_have_text("2")
    expect(customers.filter(has_text=b.name).locator("td").nth(1)).to_have_text("1")
    expect(page.get_by_role("button", name="Send 3 devices to zero-touch")).to_be_visible()
    job = BatchJob.objects.get()
    assert (job.customer_id, job.any_owner, job.ready) == (None, True, 3)


def test_a_google_format_file_names_the_customer_of_each_row(page, sign_in, holders):
    a, b = holders["a"], holders["b"]
    fresh = [make_imei(88000 + n) for n in range(3)]
    text = "modemtype,modemid,serial,model,manufacturer,profiletype,owner\n" + "".join(
        f"IMEI,{imei},,,,ZERO_TOUCH,{owner.pk}\n" for imei, owner in zip(fresh, (a, b, a), strict=True)
    )
    sign_in(Role.SALES)
    page.goto("/batches/new/")
    expect(page.locator("input[name=customer]")).to_have_value("")
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "google-owners.csv", "mimeType": "text/csv", "buffer": text.encode()}]
    )
    page.get_by_role("button", name="Check the rows").click()

    preview = page.locator("#preview")
    expect(preview.locator(".count-ok dd")).to_have_text("3")
    expect(preview.get_by_role("heading", name="For 2 customers")).to_be_visible()
    customers = preview.locator("table tbody tr")
    expect(customers).to_have_count(2)
    expect(customers.filter(has_text=a.name).locator("td").nth(1)).to_have_text("2")
    expect(customers.filter(has_text=b.name).locator("td").nth(1)).to_have_text("1")
    job = BatchJob.objects.get()
    assert (job.customer_id, job.rows, job.ready) == (None, 3, 3)

    page.goto("/batches/")
    row = page.locator("tbody tr", has_text="google-owners.csv")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(4)).to_have_text("2 customers")


def test_a_paste_without_a_customer_is_refused_and_a_discarded_paste_comes_back(page, sign_in, holders):
    lines = f"{make_imei(88100)}\n{make_imei(88101)}"
    sign_in(Role.SALES)
    page.goto("/batches/new/")
    page.get_by_role("radio", name="Claim", exact=True).check()
    page.get_by_role("radio", name="Paste").check()
    pasted = page.get_by_label("Identifiers or CSV")
    pasted.press_sequentially(lines, delay=5)
    page.get_by_role("button", name="Check the rows").click()

    customer_error = page.locator("#batch-customer-error")
    expect(customer_error).to_have_text("Choose the customer the devices are claimed for.")
    expect(page.get_by_label("Customer", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page).to_have_url(re.compile(r"/batches/new/$"))
    expect(page.get_by_role("radio", name="Paste")).to_be_checked()
    expect(pasted).to_be_visible()
    expect(pasted).to_have_value(lines)
    assert not BatchJob.objects.exists()

    pick_customer_by_typing(page, holders["b"])
    page.get_by_role("button", name="Check the rows").click()
    expect(page.locator("#preview .count-ok dd")).to_have_text("2")
    job = BatchJob.objects.get()
    page.get_by_role("button", name="Discard").click()

    expect(page).to_have_url(re.compile(rf"/batches/new/\?from={job.pk}$"))
    expect(
        page.get_by_text("Discarded: nothing was sent. Your lines are back in the form to change.")
    ).to_be_visible()
    expect(page.get_by_role("radio", name="Paste")).to_be_checked()
    expect(pasted).to_be_visible()
    expect(pasted).to_have_value(re.compile(rf"^{lines}\n?$"))  # one line a row, as they were
    expect(page.get_by_role("radio", name="Claim", exact=True)).to_be_checked()
    expect(page.get_by_label("Customer", exact=True)).to_have_value(holders["b"].name)
    job.refresh_from_db()
    assert job.state == BatchJob.State.DISCARDED


def test_a_batch_from_the_keyboard_alone(page, sign_in, emulator, customer, worker):
    fresh = [make_imei(99400 + n) for n in range(3)]
    sign_in(Role.SALES)
    page.goto("/batches/new/")

    picker = page.get_by_label("Customer", exact=True)
    tab_to(page, picker)
    page.keyboard.type(customer.name, delay=20)
    expect(page.locator(".picker-option", has_text=customer.name)).to_be_visible()  # as a person waits
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(picker).to_have_value(customer.name)
    paste = page.get_by_label("Paste")
    tab_to(page, page.get_by_label("Upload a file"))
    page.keyboard.press("ArrowRight")  # the next choice of the radio group
    expect(paste).to_be_checked()
    tab_to(page, page.get_by_label("Identifiers or CSV"))
    page.keyboard.type("\n".join(fresh))
    tab_to(page, page.get_by_role("button", name="Check the rows"))
    page.keyboard.press("Enter")

    send = page.get_by_role("button", name=re.compile(r"^Send 3 devices"))
    expect(send).to_be_visible()
    tab_to(page, send)
    page.keyboard.press("Enter")

    expect(page.locator("main")).to_contain_text("Finished", timeout=30_000)
    job = BatchJob.objects.get()
    assert (job.state, job.succeeded) == ("done", 3)
    for imei in fresh:
        claim = emulator_device(emulator, imei)["claims"][0]
        assert claim["ownerCompanyId"] == str(customer.pk)


# --- a move to another customer (issue 24) --------------------------------------------------------------


def test_a_move_from_pasted_imeis_ends_with_every_device_moved(page, sign_in, emulator, holders, worker):
    a, b, a_imeis = holders["a"], holders["b"], holders["a_imeis"]
    sign_in(Role.SALES)
    page.goto("/batches/new/")
    page.get_by_role("radio", name="Move to another customer").check()
    pick_customer_by_typing(page, b)
    source = page.get_by_label("From customer (optional)")
    expect(source).to_be_visible()  # shown only while "Move" is chosen
    first, second = a.name.split()[:2]
    source.press_sequentially(f"{first} {second[:2]}", delay=30)
    page.locator(f"#batch-from-customer-options .picker-option[data-id='{a.pk}']").click()
    expect(page.locator("input[name=from_customer]")).to_have_value(str(a.pk))
    page.get_by_role("radio", name="Paste").check()
    page.get_by_label("Identifiers or CSV").fill("\n".join(a_imeis))
    page.get_by_role("button", name="Check the rows").click()

    expect(page.get_by_role("heading", name="Checked: nothing has been sent yet")).to_be_visible()
    expect(page.locator("#preview .count-ok dd")).to_have_text("2")
    expect(page.locator("main")).to_contain_text(f"From: {a.name} ({a.pk}) only.")
    page.get_by_role("button", name="Send 2 devices to zero-touch").click()

    expect(page.locator("#progress h2")).to_have_text("Finished", timeout=60_000)
    expect(page.locator("#progress .count-ok dd")).to_have_text("2")
    rows = page.locator("#rows tbody tr")
    expect(rows).to_have_count(2)
    for row in range(2):
        expect(rows.nth(row)).to_contain_text(f"{a.name} → {b.name}")
        expect(rows.nth(row)).to_contain_text(f"Moved from {a.name} to {b.name}.")
    for imei in a_imeis:
        assert emulator_device(emulator, imei)["claims"][0]["ownerCompanyId"] == str(b.pk), imei
    job = BatchJob.objects.get()
    assert (job.action, job.customer_id, job.from_customer_id, job.succeeded) == ("move", b.pk, a.pk, 2)
