import re

import pytest
from playwright.sync_api import expect

from core.roles import Role

NAVIGATION = {
    Role.SALES: ["Devices", "Customers", "Batches", "Orders"],
    Role.MANAGERS: ["Devices", "Customers", "Batches", "Orders", "Reports"],
    Role.ADMINS: ["Devices", "Customers", "Batches", "Orders", "Reports", "Admin"],
}


@pytest.mark.parametrize("role", list(Role))
def test_each_role_signs_in_and_sees_its_navigation(page, sign_in, role):
    sign_in(role)

    navigation = page.get_by_role("navigation", name="Main").get_by_role("link")
    expect(navigation).to_have_text(NAVIGATION[role])
    expect(page.locator(".role-badge")).to_have_text(role.value)


def test_a_wrong_password_is_refused_with_a_message(page, transactional_db):
    page.goto("/")

    page.get_by_label("Username").fill("nobody")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username and password")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))


def test_signing_out_returns_to_the_sign_in_page(page, sign_in):
    sign_in(Role.SALES)

    page.get_by_role("button", name="Sign out").click()

    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto("/devices/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
