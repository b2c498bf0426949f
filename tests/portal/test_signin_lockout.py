"""Issue 23 (12, 13): failures lock out the address that made them, not the account; refusals are
audited once per throttle window; /ops/ names an account under attack."""

import time

import pytest
from django.conf import settings
from django.test import Client

from core.models import AuditEvent
from core.roles import Role
from tests.conftest import make_user
from tests.portal.test_signin import fail, is_signed_in, sign_in

pytestmark = pytest.mark.django_db

ATTACKER, OWNER = "198.51.100.7", "192.0.2.20"


def test_failures_from_one_address_do_not_refuse_the_right_password_from_another():
    make_user(Role.ADMINS, username="admin")
    attacker = Client()
    fail(attacker, "admin", settings.LOGIN_FAILURES_PER_ACCOUNT, address=ATTACKER)

    refused = sign_in(attacker, "admin", "demo", address=ATTACKER)
    owner = Client()
    signed_in = sign_in(owner, "admin", "demo", address=OWNER)

    assert "Too many failed sign-ins. Try again in 15 minutes." in refused.text
    assert not is_signed_in(attacker)
    assert signed_in.status_code == 302
    assert is_signed_in(owner)
    assert "Too many failed sign-ins" in sign_in(Client(), "admin", "demo", address=ATTACKER).text


def test_an_address_failing_across_usernames_does_not_lock_out_other_addresses():
    make_user(Role.SALES, username="sales")
    for number in range(settings.LOGIN_FAILURES_PER_ADDRESS):
        sign_in(Client(), "sales" if number % 2 else f"guess{number}", "wrong-password", address=ATTACKER)

    assert "Too many failed sign-ins" in sign_in(Client(), "sales", "demo", address=ATTACKER).text
    assert sign_in(Client(), "sales", "demo", address=OWNER).status_code == 302


def test_behind_a_trusted_proxy_one_forwarded_address_does_not_lock_out_another(settings):
    settings.TRUST_X_FORWARDED_PROTO = True
    make_user(Role.SALES, username="sales")
    proxy = "10.0.0.2"
    for number in range(settings.LOGIN_FAILURES_PER_ADDRESS):
        sign_in(Client(), f"guess{number}", "x", address=proxy, HTTP_X_FORWARDED_FOR=ATTACKER)

    refused = sign_in(Client(), "sales", "demo", address=proxy, HTTP_X_FORWARDED_FOR=ATTACKER)
    other = sign_in(Client(), "sales", "demo", address=proxy, HTTP_X_FORWARDED_FOR=OWNER)

    assert "Too many failed sign-ins" in refused.text
    assert other.status_code == 302


def test_throttled_attempts_write_one_scrubbed_short_audit_row_per_window():
    make_user(Role.ADMINS, username="admin")
    typed = "admin\x1b[2J\r\nroot logged in\u202e" + "x" * 140  # 150+ characters of the client's choosing
    fail(Client(), typed, settings.LOGIN_FAILURES_PER_ACCOUNT, address=ATTACKER)
    before = AuditEvent.objects.filter(action="auth.sign_in_failed").count()

    for _ in range(30):
        assert "Too many failed sign-ins" in sign_in(Client(), typed, "demo", address=ATTACKER).text

    refusals = list(AuditEvent.objects.filter(action="auth.sign_in_failed", details__throttled=True))
    assert AuditEvent.objects.filter(action="auth.sign_in_failed").count() == before + 1
    assert len(refusals) == 1
    label = refusals[0].target_label
    assert label.startswith("admin[2Jroot logged in")
    assert len(label) == 64
    assert all(ch.isprintable() for ch in label)
    failed_labels = AuditEvent.objects.filter(details__throttled=False).values_list("target_label", flat=True)
    assert {len(label) for label in failed_labels} == {64}


def test_a_new_throttle_window_writes_a_new_row(settings):
    settings.LOGIN_FAILURE_WINDOW_SECONDS = 3
    fail(Client(), "admin", settings.LOGIN_FAILURES_PER_ACCOUNT, address=ATTACKER)
    sign_in(Client(), "admin", "x", address=ATTACKER)
    sign_in(Client(), "admin", "x", address=ATTACKER)

    time.sleep(3.2)
    fail(Client(), "admin", settings.LOGIN_FAILURES_PER_ACCOUNT, address=ATTACKER)
    sign_in(Client(), "admin", "x", address=ATTACKER)

    assert AuditEvent.objects.filter(details__throttled=True).count() == 2


def test_ops_names_an_account_under_attack_with_its_counts(client_as):
    make_user(Role.ADMINS, username="admin")
    attackers = ["198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"]
    for address in attackers:
        fail(Client(), "Admin", settings.LOGIN_FAILURES_PER_ACCOUNT, address=address)
    for _ in range(7):
        sign_in(Client(), "admin", "x", address=attackers[0])
    assert sign_in(Client(), "admin", "demo", address=OWNER).status_code == 302

    page = client_as(Role.ADMINS).get("/ops/")

    failures = settings.LOGIN_FAILURES_PER_ACCOUNT * len(attackers)
    assert (
        f"Sign-in: account 'admin' had {failures} failed attempts from 4 addresses in the last 15 minutes;"
        " 7 more refused by the throttle." in page.text
    )


def test_ops_says_nothing_of_a_few_typos_the_owner_then_got_right(client_as):
    make_user(Role.SALES, username="sales")
    client = Client()
    fail(client, "sales", settings.LOGIN_FAILURES_PER_ACCOUNT - 1)
    assert sign_in(client, "sales", "demo").status_code == 302
    client.post("/accounts/logout/")
    fail(client, "sales", settings.LOGIN_FAILURES_PER_ACCOUNT - 1)

    assert "Sign-in:" not in client_as(Role.ADMINS).get("/ops/").text


def test_ops_names_an_address_stopped_by_the_throttle(client_as):
    for number in range(settings.LOGIN_FAILURES_PER_ADDRESS):
        sign_in(Client(), f"guess{number}", "x", address=ATTACKER)
    sign_in(Client(), "guess0", "x", address=ATTACKER)

    page = client_as(Role.ADMINS).get("/ops/")

    assert (
        f"Sign-in: address {ATTACKER} had {settings.LOGIN_FAILURES_PER_ADDRESS} failed attempts in the last"
        " 15 minutes and is refused until its window ends; 1 more refused by the throttle." in page.text
    )
