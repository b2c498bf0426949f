"""A form sent in a character set other than UTF-8 gets a short 400 in words, never a 500."""

import logging

import pytest
from django.test import Client

from core.roles import Role
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

SENTENCE = "This form was sent in a character set the portal does not read; send it as UTF-8."
PATHS = ["/healthz", "/accounts/login/", "/devices/"]


def assert_refused(response):
    assert response.status_code == 400
    assert SENTENCE in response.content.decode()
    assert "Content-Security-Policy" in response.headers
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("charset", ["latin-1", "ISO-8859-1", "utf-16", "no-such-charset"])
def test_urlencoded_form_in_another_charset_is_refused(path, charset):
    # generic() sends the body as given, where post() would encode it in the named charset.
    response = Client().generic("POST", path, b"a=b", f"application/x-www-form-urlencoded; charset={charset}")

    assert_refused(response)


@pytest.mark.parametrize("path", PATHS)
def test_signed_in_too(client_as, path):
    response = client_as(Role.SALES).post(
        path, "a=b", content_type="application/x-www-form-urlencoded; charset=latin-1"
    )

    assert_refused(response)


def test_multipart_form_in_another_charset_is_refused():
    body = '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n--x--\r\n'
    response = Client().generic(
        "POST", "/accounts/login/", body, "multipart/form-data; boundary=x; charset=latin-1"
    )

    assert_refused(response)


def test_refusal_is_one_log_line(caplog):
    Client(enforce_csrf_checks=True).post(
        "/accounts/login/", "a=b", content_type="application/x-www-form-urlencoded; charset=latin-1"
    )

    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in records] == ["Form in charset 'latin-1' refused: /accounts/login/"]
    assert records[0].exc_info is None


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", "utf8", "us-ascii", '"utf-8"'])
def test_utf8_sign_in_still_works(charset):
    make_user(Role.SALES, password="demo")
    client = Client()

    response = client.post(
        "/accounts/login/",
        "username=sales&password=demo",
        content_type=f"application/x-www-form-urlencoded; charset={charset}",
    )

    assert response.status_code == 302
    assert client.session.get("_auth_user_id")


def test_form_without_a_charset_still_works():
    make_user(Role.SALES, password="demo")
    client = Client()

    response = client.post("/accounts/login/", {"username": "sales", "password": "demo"})

    assert response.status_code == 302
