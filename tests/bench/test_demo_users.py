"""`demo_setup` without an emulator state: the three demo users, in development only, and never
beside real people."""

import pytest
from django.core.management import call_command

from core.roles import Role
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def test_demo_users_are_created_once_with_password_demo(settings, client):
    settings.DEBUG = True

    call_command("demo_setup")
    call_command("demo_setup")

    from django.contrib.auth import get_user_model

    users = get_user_model().objects.order_by("username")
    assert [u.username for u in users] == ["admin", "manager", "sales"]
    assert client.login(username="sales", password="demo")
    assert users.get(username="admin").is_superuser
    assert list(users.get(username="manager").groups.values_list("name", flat=True)) == ["Managers"]


def test_demo_users_are_never_created_in_production(settings):
    from django.core.management.base import CommandError

    settings.DEBUG = False

    with pytest.raises(CommandError, match="only created in development"):
        call_command("demo_setup")


def test_demo_users_are_not_added_to_a_database_that_has_people(settings):
    settings.DEBUG = True
    make_user(Role.SALES, username="real.person")

    call_command("demo_setup")

    from django.contrib.auth import get_user_model

    assert list(get_user_model().objects.values_list("username", flat=True)) == ["real.person"]
