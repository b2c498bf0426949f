"""Real-browser tests: Playwright drives Debian's Chromium against a live server.

Without Chromium the tests are skipped with the reason printed, unless E2E_REQUIRED=1 (as in CI),
where a missing browser is a failure.
"""

import os
import shutil

import pytest

from core.roles import Role
from tests.conftest import make_user
from tests.devices.factories import make_customer

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM):
        message = (
            f"Chromium not found at {CHROMIUM}: install Debian's chromium package (apt-get install chromium)"
        )
        if os.environ.get("E2E_REQUIRED") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in the test thread; the ORM calls the tests
    # make beside it are synchronous and safe. (Subprocess-spawning tests drop this variable.)
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def page(browser, live_server):
    """A browser tab on the live server. Whatever the page's scripts break on or log as an error
    (htmx's complaints, a resource that fails to load), or the Content-Security-Policy refuses,
    fails the test: the portal runs no inline code and no eval."""
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    broken: list[str] = []
    page.on("pageerror", lambda error: broken.append(f"{page.url}: {error}"))
    page.on(
        "console",
        lambda message: (
            broken.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text
            else None
        ),
    )
    yield page
    context.close()
    assert broken == [], "The browser reported script errors or refused content:\n" + "\n".join(broken)


@pytest.fixture
def sign_in(page, transactional_db):
    """``sign_in(Role.SALES)`` creates that role's user and signs in through the real form."""

    def as_role(role: Role):
        user = make_user(role)
        page.goto("/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill("demo")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/")
        return user

    return as_role


@pytest.fixture
def many_customers(transactional_db):
    """More customers than a picker lists at once, all sorting before the one a test looks for."""
    for number in range(1, 15):
        make_customer(500 + number, f"Alpha Trading {number:02d}")


def tab_to(page, target, *, most: int = 60) -> None:
    """Press Tab until ``target`` has the focus, as a person without a mouse would; fail if it never
    does (then it cannot be reached from the keyboard)."""
    for _ in range(most):
        if target.evaluate("element => element === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{target} is not reachable with Tab")
