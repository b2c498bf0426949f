"""The API health page and the admin's sync button in a real browser, under the strict CSP."""

from playwright.sync_api import expect

from core.api import reset_zerotouch_client
from core.models import AuditEvent
from core.roles import Role


def test_an_admin_reads_the_api_health_and_tests_the_connection(page, sign_in, emulator, settings, tmp_path):
    settings.ZT_CALLS_FILE = tmp_path / "calls.sqlite3"
    emulator.seed(customers=2, vendors=1, devices=5)
    reset_zerotouch_client()
    sign_in(Role.ADMINS)

    page.goto("/ops/")
    expect(page.get_by_role("heading", name="API health")).to_be_visible()
    expect(page.locator("#ops-quota")).to_contain_text("This minute: 0 of")
    page.get_by_role("button", name="Test connection").click()

    expect(page.locator("#connection-result")).to_contain_text("OK: partner 1000001")
    expect(page.locator("#ops-connection")).to_contain_text("No service-account key is configured")
    # The figures refresh themselves every 5 s: the test connection's call shows up in them.
    expect(page.locator("#ops-latency")).to_contain_text("partners.customers.list", timeout=12_000)
    expect(page.locator("#ops-quota")).to_contain_text("Last hour: 1 call.")


def test_an_admin_starts_a_sync_from_the_sync_runs_list(page, sign_in, emulator):
    sign_in(Role.ADMINS)

    page.goto("/admin/devices/syncrun/")
    page.get_by_role("button", name="Start a sync").click()

    expect(page.locator(".messagelist")).to_contain_text("A full sync has started")
    assert AuditEvent.objects.filter(action="sync.start", actor_username="admin").count() == 1
