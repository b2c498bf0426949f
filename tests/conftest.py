import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from core.roles import Role, ensure_role_groups

ROLE_USERNAMES = {Role.SALES: "sales", Role.MANAGERS: "manager", Role.ADMINS: "admin"}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test that ran the portal's worker or beat (``tests.processes``) shows their logs:
    what the worker did is the evidence of why a job did not end."""
    from tests.processes import PortalProcesses

    report = yield
    if report.failed:
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, PortalProcesses):
                report.sections.append(("worker and beat logs", value.log_text()[-200_000:]))
    return report


def make_user(role: Role | None, username: str | None = None, password: str = "demo"):
    """A staff member holding ``role`` (None: signed in but in no role group)."""
    ensure_role_groups()
    username = username or (ROLE_USERNAMES[role] if role else "norole")
    user = get_user_model().objects.create_user(
        username=username, password=password, first_name=username.title(), is_staff=role is Role.ADMINS
    )
    if role is not None:
        user.groups.add(Group.objects.get(name=role.value))
    return user


@pytest.fixture
def client_as(db):
    """``client_as(Role.SALES)`` gives a test client signed in as a user of that role."""

    def sign_in(role: Role | None) -> Client:
        username = ROLE_USERNAMES[role] if role else "norole"
        user = get_user_model().objects.filter(username=username).first() or make_user(role)
        client = Client()
        client.force_login(user)
        return client

    return sign_in


@pytest.fixture(scope="session")
def emulator_server():
    """One emulator process for the test session (a real server over HTTP, as the portal uses)."""
    from emulator.testing import EmulatorProcess

    with EmulatorProcess(partner_id=1000001, operation_rate=5000) as server:
        yield server


@pytest.fixture
def emulator(emulator_server, settings):
    """The session's emulator, emptied, with the portal's client pointed at it."""
    from core.api import reset_zerotouch_client

    emulator_server.reset()
    settings.ZT_API_URL = emulator_server.url
    settings.ZT_PARTNER_ID = str(emulator_server.partner_id)
    reset_zerotouch_client()
    yield emulator_server
    emulator_server.clear_faults()
    reset_zerotouch_client()


# Fixtures that give a test the database (directly or through a fixture of its own).
DATABASE_FIXTURES = {
    "db",
    "transactional_db",
    "django_db_reset_sequences",
    "django_db_serialized_rollback",
    "live_server",
}


@pytest.fixture(autouse=True)
def empty_django_cache(request, django_db_blocker):
    """Django's cache outlives a test (a Redis database, or a table of the test database that
    transactional tests do not roll back): each test starts with it empty.

    The database cache is a table of the test database, so it is emptied only for tests that use
    the database (the others cannot reach it), and before their own database fixtures have run.
    """
    from django.core.cache import caches
    from django.core.cache.backends.db import DatabaseCache

    cache = caches["default"]
    if not isinstance(cache, DatabaseCache):
        cache.clear()
    elif request.node.get_closest_marker("django_db") or DATABASE_FIXTURES & set(request.fixturenames):
        request.getfixturevalue("django_db_setup")
        with django_db_blocker.unblock():
            cache.clear()
    yield
