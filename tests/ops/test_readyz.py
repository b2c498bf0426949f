"""``/readyz`` tells anyone whether the portal is ready, and only an admin why."""

import pytest
from django.test import Client

from core.roles import Role
from portal.celery import app

pytestmark = pytest.mark.django_db

DETAILS = {"database", "broker", "api"}


def test_an_anonymous_caller_gets_the_status_only():
    response = Client().get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_a_signed_in_non_admin_gets_the_status_only(client_as):
    response = client_as(Role.MANAGERS).get("/readyz")

    assert response.json() == {"status": "ready"}


def test_an_admin_gets_the_checks(client_as):
    response = client_as(Role.ADMINS).get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert DETAILS <= set(body)
    assert body["database"]["ok"] is True and "ms" in body["database"]


def test_not_ready_says_so_without_naming_the_failure_to_an_anonymous_caller(client_as):
    keys = ("broker_url", "broker_read_url", "broker_write_url")
    previous = {key: app.conf[key] for key in (*keys, "broker_transport")}
    # A Redis that does not answer (the embedded default names its own transport: drop it too).
    app.conf.update({**dict.fromkeys(keys, "redis://127.0.0.1:1/0"), "broker_transport": None})
    try:
        anonymous = Client().get("/readyz")
        admin = client_as(Role.ADMINS).get("/readyz")
    finally:
        app.conf.update(previous)

    assert anonymous.status_code == 503
    assert anonymous.json() == {"status": "not ready"}
    assert admin.status_code == 503
    assert admin.json()["broker"]["ok"] is False
    assert "error" in admin.json()["broker"]
