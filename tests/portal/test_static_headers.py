"""Static files carry the security headers pages carry: WhiteNoise answers them before the CSP and
clickjacking middleware run, so it adds those itself (``WHITENOISE_ADD_HEADERS_FUNCTION``)."""

import pytest
from django.test import Client

from tests.portal.test_headers import EXPECTED_POLICY, policy_of

pytestmark = pytest.mark.django_db

SECURITY_HEADERS = [
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
    "Content-Security-Policy",
    "X-Frame-Options",
]


def get_static(client: Client, path: str):
    response = client.get(path)
    response.close()  # a streamed file
    return response


@pytest.mark.parametrize("path", ["/static/css/portal.css", "/static/admin/css/base.css"])
def test_a_static_file_carries_the_security_headers_of_a_page(path):
    client = Client()
    page = client.get("/accounts/login/")

    static = get_static(client, path)

    assert static.status_code == 200
    for header in SECURITY_HEADERS:
        assert page.headers.get(header), header
        assert static.headers.get(header) == page.headers[header], header
    assert policy_of(static) == EXPECTED_POLICY
    assert static.headers["X-Content-Type-Options"] == "nosniff"
    assert static.headers["X-Frame-Options"] == "DENY"
