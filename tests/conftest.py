import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from portal.roles import Role, ensure_role_groups

ROLE_USERNAMES = {Role.SALES: "sales", Role.MANAGERS: "manager", Role.ADMINS: "admin"}


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
        client = Client()
        client.force_login(make_user(role))
        return client

    return sign_in
