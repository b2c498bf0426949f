"""The end of a batch, told on whatever page its sender is on: started, left for another page, the
notice arrives there when the real worker ends the job, and leads to the job. A notice fits a phone's
width and is dismissed from the keyboard."""

import pytest
from playwright.sync_api import expect

from batches.models import BatchJob
from core.notices import notice_post
from core.roles import Role
from customers.models import Customer
from devices.sync import sync_full
from tests.batches.conftest import FAST_BATCH_VARIABLES
from tests.devices.factories import make_imei
from tests.e2e.conftest import tab_to
from tests.processes import portal_processes


@pytest.fixture
def worker(live_server, emulator, settings, tmp_path):
    """A real Celery worker for the live server's jobs, with fast polling; pages look for notices
    every second."""
    from portal.celery import app

    for name, value in FAST_BATCH_VARIABLES.items():
        setattr(settings, name, float(value))
    settings.PORTAL_NOTICE_POLL_SECONDS = 1
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
    emulator.seed(customers=2, vendors=0, devices=4, random_seed=81)
    sync_full()
    return Customer.objects.filter(vendor__isnull=True).order_by("name").first()


def test_the_end_of_a_batch_reaches_its_sender_on_another_page(page, sign_in, emulator, customer, worker):
    fresh = [make_imei(99300 + n) for n in range(3)]
    emulator.set_operation_rate(0.5)  # about six seconds: time to go elsewhere before it ends
    sign_in(Role.SALES)
    page.goto(f"/batches/new/?customer={customer.pk}")
    page.get_by_role("radio", name="Paste").check()
    page.get_by_label("Identifiers or CSV").fill("\n".join(fresh))
    page.get_by_role("button", name="Check the rows").click()
    page.get_by_role("button", name="Send 3 devices to zero-touch").click()
    expect(page.locator("#progress")).to_be_visible()
    job = BatchJob.objects.get()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Customers").click()
    page.wait_for_url("**/customers/")
    notices = page.locator("#notice-list .notice")
    expect(notices).to_have_count(0)  # still running when the page was made: it is looked for
    expect(page.locator("#notice-poller")).to_have_attribute("hx-trigger", "every 1s")

    sentence = f"Batch {job.pk}, claim of 3 devices for {customer.name}, finished: 3 claimed"
    expect(notices).to_have_text([sentence + "\nDismiss"], timeout=45_000, use_inner_text=True)
    expect(page.locator("#notices")).to_have_attribute("aria-live", "polite")
    expect(page.locator("#notice-poller")).not_to_have_attribute("hx-trigger", "every 1s")  # stopped
    assert page.url.endswith("/customers/")  # the person stayed where they were

    page.get_by_role("link", name=sentence).click()
    page.wait_for_url(f"**/batches/{job.pk}/")
    expect(page.locator("#progress h2")).to_have_text("Finished")
    expect(page.locator("#progress .count-ok dd")).to_have_text("3")
    expect(notices).to_have_count(0)  # the page it told of is open: seen
    page.goto("/customers/")
    expect(page.get_by_role("heading", name="Customers")).to_be_visible()
    expect(notices).to_have_count(0)


def test_a_notice_fits_a_phone_and_is_dismissed_from_the_keyboard(page, sign_in):
    user = sign_in(Role.SALES)
    long = "Batch 123456, claim of 100,000 devices for Pioneer Field Services Aktiebolag (Norrland), "
    notice_post(
        user_id=user.pk, key="one", text=long + "finished: 99,998 claimed, 2 failed", link="/batches/"
    )
    notice_post(user_id=user.pk, key="two", text="Batch 7, unclaim of 2 devices, finished: 2 unclaimed")
    page.set_viewport_size({"width": 390, "height": 844})

    page.goto("/customers/")
    notices = page.locator("#notice-list .notice")
    expect(notices).to_have_count(2)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
    first_dismiss = notices.first.get_by_role("button", name="Dismiss")
    box, screen = first_dismiss.bounding_box(), page.viewport_size
    assert box["x"] >= 0 and box["x"] + box["width"] <= screen["width"]

    tab_to(page, first_dismiss)
    page.keyboard.press("Enter")

    expect(notices).to_have_count(1)
    second_dismiss = notices.first.get_by_role("button", name="Dismiss")
    expect(second_dismiss).to_be_focused()  # the focus moves on to the next notice, not lost
    page.keyboard.press("Enter")
    expect(notices).to_have_count(0)
    expect(page.locator("#main")).to_be_focused()
    page.reload()
    expect(page.get_by_role("heading", name="Customers")).to_be_visible()
    expect(notices).to_have_count(0)  # dismissed for good
