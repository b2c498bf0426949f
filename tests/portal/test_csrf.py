"""HTMX requests carry the CSRF token from <body hx-headers>; without it a POST is refused."""

import re

import pytest
from django.test import Client

from core.roles import Role
from tests.conftest import make_user


@pytest.fixture
def strict_client(db) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user(Role.SALES))
    return client


def page_csrf_header(client: Client) -> str:
    page = client.get("/").text
    match = re.search(r"<body hx-headers='\{\"X-CSRFToken\": \"([^\"]+)\"\}'>", page)
    assert match, "every page puts the CSRF token on <body hx-headers>"
    return match.group(1)


def test_an_htmx_post_without_the_token_is_refused(strict_client):
    response = strict_client.post("/accounts/logout/", headers={"HX-Request": "true"})

    assert response.status_code == 403
    assert strict_client.get("/").status_code == 200  # still signed in: the POST did nothing


def test_an_htmx_post_with_the_token_from_the_page_is_accepted(strict_client):
    token = page_csrf_header(strict_client)

    response = strict_client.post("/accounts/logout/", headers={"HX-Request": "true", "X-CSRFToken": token})

    assert response.status_code == 302
    assert strict_client.get("/").status_code == 302  # signed out: home now sends to sign-in
