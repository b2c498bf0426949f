"""Django admin in a real browser under the portal's strict Content-Security-Policy.

The policy is not loosened for /admin/: Django 6.1's admin loads every script and style from files.
The page fixture fails the test on any refusal the browser reports, widgets' scripts included.
"""

from django.contrib.auth.models import Group
from playwright.sync_api import expect

from core.models import AuditEvent
from core.roles import Role
from tests.conftest import make_user


def test_admin_pages_and_widgets_work_and_changes_are_audited(page, sign_in):
    sign_in(Role.ADMINS)
    person = make_user(Role.SALES, username="sales")
    group = Group.objects.get(name=Role.SALES.value)

    for path in [
        "/admin/",
        "/admin/auth/user/?q=sa",
        "/admin/auth/user/add/",
        f"/admin/auth/user/{person.pk}/password/",
        f"/admin/auth/group/{group.pk}/change/",
        "/admin/portal/auditevent/",
    ]:
        page.goto(path)
        page.wait_for_load_state("networkidle")
    page.goto(f"/admin/auth/group/{group.pk}/change/")
    page.locator("#id_permissions_input").press_sequentially("view audit")  # the picker filters as one types
    expect(page.locator("#id_permissions_from option")).to_contain_text(["Can view audit event"])
    page.goto(f"/admin/auth/user/{person.pk}/change/")
    expect(page.locator("#id_role")).to_have_value("Sales")  # one role, chosen from a list
    page.locator("#calendarlink0").click()
    expect(page.locator("#calendarbox0")).to_be_visible()
    page.goto("/admin/auth/user/")
    page.locator(f"input.action-select[value='{person.pk}']").check()
    page.locator("select[name=action]").select_option("delete_selected")
    page.locator("button[name=index]").click()
    page.locator("#content form input[type=submit]").click()  # "Yes, I'm sure"

    expect(page.locator(".messagelist")).to_contain_text("Successfully deleted 1 user")
    deleted = AuditEvent.objects.get(action="admin.delete")
    assert (deleted.actor_username, deleted.target_label) == ("admin", "sales")
