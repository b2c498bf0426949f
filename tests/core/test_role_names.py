"""A role hangs on its group's name, which admin therefore does not let anyone change: renaming the
"Admins" group would otherwise take every admin's role away at once."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from core.models import AuditEvent
from core.roles import Role, user_roles
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def group_form(group: Group, **changes) -> dict:
    """What admin's group change form posts, with ``changes`` applied."""
    return {
        "name": group.name,
        "permissions": [str(pk) for pk in group.permissions.values_list("pk", flat=True)],
        **changes,
    }


def test_renaming_the_admins_group_in_admin_leaves_the_admins_their_role(client_as):
    client = client_as(Role.ADMINS)
    group = Group.objects.get(name=Role.ADMINS.value)

    response = client.post(
        reverse("admin:auth_group_change", args=[group.pk]), group_form(group, name="Administrators")
    )

    assert response.status_code in {200, 302}
    group.refresh_from_db()
    assert group.name == Role.ADMINS.value
    admin = make_user(None, username="fresh-admin")
    admin.groups.add(group)
    assert Role.ADMINS in user_roles(admin)
    assert client.get("/admin/").status_code == 200
    assert client.get(reverse("ops")).status_code == 200
    changed = [e.details["fields"] for e in AuditEvent.objects.filter(action="admin.change")]
    assert all("Name" not in fields for fields in changed)


@pytest.mark.parametrize("role", list(Role))
def test_a_role_groups_change_form_shows_its_name_but_offers_no_field_for_it(client_as, role):
    client = client_as(Role.ADMINS)
    group = Group.objects.get(name=role.value)

    response = client.get(reverse("admin:auth_group_change", args=[group.pk]))

    assert response.status_code == 200
    assert role.value in response.text
    assert 'name="name"' not in response.text


def test_the_permissions_of_a_role_group_can_still_be_changed(client_as):
    client = client_as(Role.ADMINS)
    group = Group.objects.get(name=Role.MANAGERS.value)
    extra = Permission.objects.get(codename="view_user")

    client.post(
        reverse("admin:auth_group_change", args=[group.pk]),
        {**group_form(group), "permissions": [*group_form(group)["permissions"], str(extra.pk)]},
    )

    assert group.permissions.filter(pk=extra.pk).exists()
    assert group.name == Role.MANAGERS.value


def test_a_group_that_is_no_role_can_be_renamed(client_as):
    client = client_as(Role.ADMINS)
    group = Group.objects.create(name="Auditors")

    client.post(reverse("admin:auth_group_change", args=[group.pk]), group_form(group, name="Reviewers"))

    group.refresh_from_db()
    assert group.name == "Reviewers"
