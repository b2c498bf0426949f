"""Who may open what: anonymous visitors are sent to sign in; each role sees its pages, 403 elsewhere."""

import pytest
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.resolvers import RegexPattern

from core.roles import Role

# Pages anyone may open without signing in.
PUBLIC_PATHS = {
    "/accounts/login/": 200,
    "/healthz": 200,
    "/readyz": 200,
    "/metrics": 404,  # off unless METRICS_ENABLED
    "/favicon.ico": 301,
}

SAMPLE_ARGUMENTS = {
    "int": "1",
    "id": "1",  # core.converters.IdConverter
    "str": "sample",
    "slug": "sample",
    "path": "sample",
    "uuid": "00000000-0000-0000-0000-000000000001",
}


def _concrete_paths(patterns, prefix: str = ""):
    """Every URL pattern of the project turned into a path, converters filled with sample values."""
    for pattern in patterns:
        # Regex patterns come only from admin's catch-all; a "sample" path stands for them.
        route = "sample/" if isinstance(pattern.pattern, RegexPattern) else str(pattern.pattern)
        for name, converter in getattr(pattern.pattern, "converters", {}).items():
            kind = type(converter).__name__.removesuffix("Converter").lower()
            route = route.replace(f"<{kind}:{name}>", SAMPLE_ARGUMENTS.get(kind, "sample"))
            route = route.replace(f"<{name}>", SAMPLE_ARGUMENTS["str"])
        if isinstance(pattern, URLResolver):
            yield from _concrete_paths(pattern.url_patterns, prefix + route)
        elif isinstance(pattern, URLPattern):
            yield "/" + prefix + route


ALL_PATHS = sorted(set(_concrete_paths(get_resolver().url_patterns)))


def test_the_walk_covers_every_section():
    for expected in ["/", "/devices/", "/customers/", "/batches/", "/reports/", "/admin/"]:
        assert expected in ALL_PATHS


@pytest.mark.django_db
@pytest.mark.parametrize("path", [p for p in ALL_PATHS if p not in PUBLIC_PATHS])
def test_anonymous_visitors_are_sent_to_sign_in(path):
    response = Client().get(path, follow=True)

    assert response.redirect_chain, "expected a redirect to the sign-in page"
    assert response.status_code == 200
    assert response.request["PATH_INFO"] == reverse(settings.LOGIN_URL)
    # Admin's own sign-in page hands over to the portal's, on to the admin index.
    assert response.context["next"] == ("/admin/" if path == "/admin/login/" else path)


@pytest.mark.django_db
@pytest.mark.parametrize("path", sorted(PUBLIC_PATHS))
def test_public_pages_answer_without_signing_in(path):
    assert Client().get(path).status_code == PUBLIC_PATHS[path]


# The specification, written out by hand: what each role gets from each page.
ROLE_MATRIX = {
    "/": {Role.SALES: 200, Role.MANAGERS: 200, Role.ADMINS: 200},
    "/devices/": {Role.SALES: 200, Role.MANAGERS: 200, Role.ADMINS: 200},
    "/customers/": {Role.SALES: 200, Role.MANAGERS: 200, Role.ADMINS: 200},
    "/batches/": {Role.SALES: 200, Role.MANAGERS: 200, Role.ADMINS: 200},  # managers read only
    "/batches/new/": {Role.SALES: 200, Role.MANAGERS: 403, Role.ADMINS: 200},
    "/reports/": {Role.SALES: 403, Role.MANAGERS: 200, Role.ADMINS: 200},
    "/admin/": {Role.SALES: 403, Role.MANAGERS: 403, Role.ADMINS: 200},
    "/admin/portal/auditevent/": {Role.SALES: 403, Role.MANAGERS: 403, Role.ADMINS: 200},
    "/ops/": {Role.SALES: 403, Role.MANAGERS: 403, Role.ADMINS: 200},
}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("path", list(ROLE_MATRIX))
def test_each_role_gets_the_pages_it_may_use(client_as, role, path):
    response = client_as(role).get(path, follow=path.startswith("/admin/"))

    assert response.status_code == ROLE_MATRIX[path][role]


def test_a_forbidden_page_explains_itself(client_as):
    response = client_as(Role.SALES).get("/reports/")

    assert response.status_code == 403
    assert "Your role does not give access to this page" in response.text


def test_a_user_without_a_role_gets_403_everywhere_but_home(client_as):
    client = client_as(None)

    assert client.get("/").status_code == 200
    for path in ["/devices/", "/customers/", "/batches/", "/reports/"]:
        assert client.get(path).status_code == 403


@pytest.mark.parametrize(
    ("role", "visible"),
    [
        (Role.SALES, ["Devices", "Customers", "Batches", "Orders"]),
        (Role.MANAGERS, ["Devices", "Customers", "Batches", "Orders", "Reports"]),
        (Role.ADMINS, ["Devices", "Customers", "Batches", "Orders", "Reports", "Admin"]),
    ],
)
def test_navigation_shows_the_sections_of_the_role(client_as, role, visible):
    response = client_as(role).get("/")

    shown = [section["label"] for section in response.context["nav_sections"]]
    assert shown == visible
    assert f'class="role-badge role-{role.value.lower()}">{role.value}<' in response.text


def test_the_sign_in_page_names_the_company_whose_staff_sign_in(client, settings):
    settings.PORTAL_RESELLER_NAME = "Northwind Mobile"

    page = client.get("/accounts/login/").content.decode()

    assert "Use your Northwind Mobile staff account." in page
