"""Response headers: the Content-Security-Policy, no caching of signed-in pages, Vary on HTMX."""

import re

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from core.roles import Role
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

EXPECTED_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}


def policy_of(response) -> dict[str, str]:
    header = response.headers["Content-Security-Policy"]
    return dict(directive.strip().split(" ", 1) for directive in header.split(";"))


@pytest.mark.parametrize("path", ["/", "/accounts/login/", "/admin/", "/admin/auth/user/"])
def test_every_page_has_the_strict_policy(client_as, path):
    client = Client() if path == "/accounts/login/" else client_as(Role.ADMINS)

    response = client.get(path)

    assert response.status_code == 200
    assert policy_of(response) == EXPECTED_POLICY
    assert "unsafe" not in response.headers["Content-Security-Policy"]


def inline_code(html: str) -> list[str]:
    """What a strict policy would block in a page: inline scripts, style blocks and attributes, event
    handler attributes and javascript: links."""
    return [
        *re.findall(r"<script(?![^>]*\ssrc=)[^>]*>", html),
        *re.findall(r"<style[\s>]", html),
        *re.findall(r"<[^>]+\sstyle=[^>]*>", html),
        *re.findall(r"<[^>]+\son[a-z]+=[^>]*>", html),
        *re.findall(r"""href=["']javascript:""", html),
    ]


def test_django_admin_pages_need_nothing_the_policy_forbids(client_as):
    """Django 6.1's admin loads its scripts and styles as files: it works under the strict policy,
    so the policy is not loosened for /admin/."""
    client = client_as(Role.ADMINS)
    person = make_user(Role.SALES)
    group = Group.objects.get(name=Role.SALES.value)
    pages = [
        "/admin/",
        "/admin/auth/user/",
        "/admin/auth/user/add/",
        f"/admin/auth/user/{person.pk}/change/",
        f"/admin/auth/user/{person.pk}/password/",
        f"/admin/auth/user/{person.pk}/delete/",
        f"/admin/auth/group/{group.pk}/change/",
        "/admin/portal/auditevent/",
        "/admin/auth/user/?q=sales",
    ]

    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        assert inline_code(response.text) == [], path
    deletion = client.post(
        "/admin/auth/user/", {"action": "delete_selected", "_selected_action": [person.pk]}
    )
    assert inline_code(deletion.text) == []


def test_pages_of_a_signed_in_person_are_not_stored(client_as):
    response = client_as(Role.SALES).get("/devices/")

    directives = {d.strip() for d in response.headers["Cache-Control"].split(",")}
    assert {"no-store", "private"} <= directives


def test_a_fragment_for_a_signed_in_person_is_not_stored_either(client_as):
    response = client_as(Role.SALES).get("/devices/", headers={"HX-Request": "true"})

    assert "no-store" in response.headers["Cache-Control"]


def test_the_health_check_and_static_files_stay_cacheable(client_as):
    client = client_as(Role.SALES)

    health = client.get("/healthz")
    stylesheet = client.get("/static/css/portal.css")
    stylesheet.close()  # a streamed file

    assert stylesheet.status_code == 200
    for response in [health, stylesheet]:
        assert "no-store" not in response.headers.get("Cache-Control", "")
        assert "private" not in response.headers.get("Cache-Control", "")


def test_html_responses_vary_on_the_htmx_request_header(client_as):
    client = client_as(Role.SALES)

    page = client.get("/devices/")
    fragment = client.get("/devices/", headers={"HX-Request": "true"})
    sign_in_page = Client().get("/accounts/login/")

    for response in [page, fragment, sign_in_page]:
        assert "HX-Request" in response.headers["Vary"]
    assert "HX-Request" not in client.get("/healthz").headers.get("Vary", "")
