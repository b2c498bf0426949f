import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command

from core.roles import Role

pytestmark = pytest.mark.django_db


def test_the_three_role_groups_exist_after_migrate():
    assert set(Group.objects.values_list("name", flat=True)) >= {"Sales", "Managers", "Admins"}


def test_admins_hold_every_permission_and_others_only_theirs():
    admins = Group.objects.get(name="Admins")
    managers = Group.objects.get(name="Managers")
    sales = Group.objects.get(name="Sales")

    assert admins.permissions.count() == Permission.objects.count()
    manager_perms = set(managers.permissions.values_list("codename", flat=True))
    assert "view_auditevent" in manager_perms
    assert not {p for p in manager_perms if not p.startswith("view_")}, "managers only read"
    assert not sales.permissions.filter(
        codename__in=["delete_user", "change_user", "view_auditevent"]
    ).exists()


def test_a_superuser_counts_as_an_admin(client_as):
    from django.contrib.auth import get_user_model
    from django.test import Client

    root = get_user_model().objects.create_superuser("root", "root@reseller.example", "pw")
    client = Client()
    client.force_login(root)

    assert client.get("/reports/").status_code == 200
    assert client.get("/admin/").status_code == 200


def test_granting_is_repeatable():
    call_command("migrate", verbosity=0)  # runs the grant again
    assert Group.objects.filter(name__in=[r.value for r in Role]).count() == 3
