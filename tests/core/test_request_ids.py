"""A caller's ``X-Request-ID`` is kept only from a trusted proxy: a client reaching the portal directly
cannot choose the id its audit rows and log lines carry."""

import pytest
from django.test import Client

from core.models import AuditEvent
from core.tracing import sane_request_id
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def failed_sign_in(request_id: str):
    make_user(None, username="someone")
    return Client().post(
        LOGIN, {"username": "someone", "password": "wrong"}, headers={"X-Request-ID": request_id}
    )


def test_a_clients_request_id_is_replaced_when_no_proxy_is_trusted(settings):
    settings.TRUST_X_FORWARDED_PROTO = False

    response = failed_sign_in("evil-id-0001")

    answered = response["X-Request-ID"]
    assert answered != "evil-id-0001"
    assert sane_request_id(answered) == answered
    event = AuditEvent.objects.get(action="auth.sign_in_failed")
    assert event.details["request_id"] == answered


def test_a_trusted_proxys_request_id_is_kept(settings):
    settings.TRUST_X_FORWARDED_PROTO = True

    response = failed_sign_in("lb-7f3a9c2e-0001")

    assert response["X-Request-ID"] == "lb-7f3a9c2e-0001"
    event = AuditEvent.objects.get(action="auth.sign_in_failed")
    assert event.details["request_id"] == "lb-7f3a9c2e-0001"


def test_even_a_trusted_proxy_cannot_pass_an_id_unfit_for_the_logs(settings):
    settings.TRUST_X_FORWARDED_PROTO = True

    answered = Client().get("/healthz", headers={"X-Request-ID": "line\nbreak-injected"})["X-Request-ID"]

    assert answered != "line\nbreak-injected"
    assert sane_request_id(answered) == answered
