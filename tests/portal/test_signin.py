"""Sign-in throttling: too many failures for an account or from an address stop further attempts."""

import logging
import time

import pytest
from django.conf import settings
from django.test import Client

from core.models import AuditEvent
from core.roles import Role
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def sign_in(client: Client, username: str, password: str, address: str = "127.0.0.1", **headers):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address, **headers)


def is_signed_in(client: Client) -> bool:
    return client.get("/").status_code == 200


def fail(client: Client, username: str, times: int, address: str = "127.0.0.1") -> None:
    for _ in range(times):
        response = sign_in(client, username, "wrong-password", address)
        assert "Please enter a correct username and password" in response.text


def test_the_right_password_is_refused_after_too_many_failures_for_the_account():
    make_user(Role.ADMINS, username="admin")
    client = Client()
    fail(client, "admin", settings.LOGIN_FAILURES_PER_ACCOUNT)

    response = sign_in(client, "admin", "demo")

    assert response.status_code == 200  # the form again, not the redirect of a sign-in
    assert "Too many failed sign-ins. Try again in 15 minutes." in response.text
    assert not is_signed_in(client)


def test_failures_below_the_limit_still_let_the_right_password_in():
    make_user(Role.SALES, username="sales")
    client = Client()
    fail(client, "sales", settings.LOGIN_FAILURES_PER_ACCOUNT - 1)

    assert sign_in(client, "sales", "demo").status_code == 302
    assert is_signed_in(client)


def test_the_account_count_ignores_letter_case():
    make_user(Role.SALES, username="sales")
    client = Client()
    for username in ["Sales", "SALES", "sales", "sAles", "saleS"]:
        sign_in(client, username, "wrong-password")

    assert "Too many failed sign-ins" in sign_in(client, "sales", "demo").text


def test_a_successful_sign_in_clears_the_account_count():
    make_user(Role.SALES, username="sales")
    client = Client()
    fail(client, "sales", settings.LOGIN_FAILURES_PER_ACCOUNT - 1)
    assert sign_in(client, "sales", "demo").status_code == 302
    client.post("/accounts/logout/")

    fail(client, "sales", settings.LOGIN_FAILURES_PER_ACCOUNT - 1)

    assert sign_in(client, "sales", "demo").status_code == 302


def test_one_address_is_stopped_after_failing_across_many_usernames():
    make_user(Role.SALES, username="sales")
    client = Client()
    for number in range(settings.LOGIN_FAILURES_PER_ADDRESS):
        sign_in(client, f"guess{number}", "wrong-password", address="198.51.100.7")

    refused = sign_in(client, "sales", "demo", address="198.51.100.7")
    elsewhere = sign_in(Client(), "sales", "demo", address="198.51.100.8")

    assert "Too many failed sign-ins" in refused.text
    assert elsewhere.status_code == 302  # the account itself had no failures


def test_the_window_passes(settings):
    settings.LOGIN_FAILURE_WINDOW_SECONDS = 2
    make_user(Role.SALES, username="sales")
    client = Client()
    fail(client, "sales", settings.LOGIN_FAILURES_PER_ACCOUNT)
    refused = sign_in(client, "sales", "demo")
    assert "Try again in 1 minute." in refused.text

    time.sleep(2.2)

    assert sign_in(client, "sales", "demo").status_code == 302


def test_every_failed_sign_in_is_audited_and_logged_without_the_password(caplog):
    make_user(Role.SALES, username="sales")
    client = Client()
    caplog.set_level(logging.WARNING, logger="portal.signin")
    fail(client, "sales", settings.LOGIN_FAILURES_PER_ACCOUNT, address="192.0.2.10")

    sign_in(client, "Sales", "demo", address="192.0.2.10")

    logged = [record.getMessage() for record in caplog.records if record.name == "portal.signin"]
    events = list(AuditEvent.objects.filter(action="auth.sign_in_failed").order_by("id"))
    assert len(events) == settings.LOGIN_FAILURES_PER_ACCOUNT + 1
    assert {(e.target_label, e.outcome, e.actor_username) for e in events[:-1]} == {
        ("sales", AuditEvent.Outcome.FAILED, "")
    }
    assert [{k: v for k, v in e.details.items() if k != "request_id"} for e in events[-2:]] == [
        {"address": "192.0.2.10", "throttled": False},
        {"address": "192.0.2.10", "throttled": True},
    ]
    assert all(e.details["request_id"] for e in events)  # each names the request it came from
    assert events[-1].target_label == "Sales"
    assert len(logged) == settings.LOGIN_FAILURES_PER_ACCOUNT + 1
    assert "'sales' from 192.0.2.10" in logged[0]
    assert "refused" in logged[-1]
    assert not any("wrong-password" in line or "demo" in line for line in logged)


def test_a_successful_sign_in_is_not_audited_as_a_failure():
    make_user(Role.SALES, username="sales")

    sign_in(Client(), "sales", "demo")

    assert not AuditEvent.objects.filter(action="auth.sign_in_failed").exists()


def test_forwarded_addresses_are_ignored_unless_a_proxy_is_trusted(settings):
    make_user(Role.SALES, username="sales")
    settings.TRUST_X_FORWARDED_PROTO = False
    for number in range(settings.LOGIN_FAILURES_PER_ADDRESS):
        # A client changing the header at every attempt is still one address.
        sign_in(Client(), f"guess{number}", "x", HTTP_X_FORWARDED_FOR=f"203.0.113.{number}")

    assert "Too many failed sign-ins" in sign_in(Client(), "sales", "demo").text


def test_behind_a_trusted_proxy_the_address_is_the_one_the_proxy_saw(settings):
    settings.TRUST_X_FORWARDED_PROTO = True

    # The first entry is whatever the client claims; the last was added by the proxy.
    sign_in(Client(), "sales", "x", address="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9")
    sign_in(Client(), "sales", "x", address="10.0.0.2", HTTP_X_FORWARDED_FOR="not an address")

    addresses = AuditEvent.objects.order_by("id").values_list("details__address", flat=True)
    assert list(addresses) == ["203.0.113.9", "10.0.0.2"]
