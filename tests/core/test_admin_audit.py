"""Changes made in Django admin reach the portal's audit log, as changes made through its pages do."""

import pytest
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User

from core.admin import AuditedModelAdmin
from core.models import AuditEvent
from core.roles import Role
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client_as):
    return client_as(Role.ADMINS)


def change_form(user: User, **changes) -> dict:
    """What admin's user change form posts, with ``changes`` applied.

    The joining time goes back with the hidden copy of its first value, as a browser sends it: without
    that, admin counts it as changed.
    """
    joined = (user.date_joined.strftime("%Y-%m-%d"), user.date_joined.strftime("%H:%M:%S"))
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on",
        "role": next(
            iter(user.groups.filter(name__in=[r.value for r in Role]).values_list("name", flat=True)), ""
        ),
        "date_joined_0": joined[0],
        "date_joined_1": joined[1],
        "initial-date_joined_0": joined[0],
        "initial-date_joined_1": joined[1],
        "last_login_0": "",
        "last_login_1": "",
        "_save": "Save",
    }
    return {**data, **changes}


def test_adding_a_user_is_audited(admin_client):
    response = admin_client.post(
        "/admin/auth/user/add/",
        {
            "username": "new.hire",
            "usable_password": "true",
            "password1": "A-long-pw-2026",
            "password2": "A-long-pw-2026",
        },
    )

    assert response.status_code == 302
    created = get_user_model().objects.get(username="new.hire")
    event = AuditEvent.objects.get(action="admin.add")
    assert (event.actor_username, event.target_type, event.target_id, event.target_label) == (
        "admin",
        "auth.user",
        str(created.pk),
        "new.hire",
    )
    assert event.outcome == AuditEvent.Outcome.SUCCEEDED
    assert event.details == {"change_message": "Added.", "request_id": response["X-Request-ID"]}
    assert "A-long-pw-2026" not in str(event.details)


def test_changing_a_users_role_is_audited_with_the_role_it_now_has(admin_client):
    person = make_user(Role.SALES, username="moving.on")

    response = admin_client.post(
        f"/admin/auth/user/{person.pk}/change/", change_form(person, role="Managers")
    )

    assert response.status_code == 302
    event = AuditEvent.objects.get(action="admin.change")
    assert (event.actor_username, event.target_id) == ("admin", str(person.pk))
    assert event.target_label == "moving.on"
    assert event.details == {
        "change_message": "Changed Role.",
        "fields": ["Role"],
        "role_after": "Managers",
        "request_id": response["X-Request-ID"],
    }
    assert list(person.groups.values_list("name", flat=True)) == ["Managers"]


def test_changing_a_password_in_admin_is_audited_without_the_password(admin_client):
    person = make_user(Role.SALES, username="forgetful")

    response = admin_client.post(
        f"/admin/auth/user/{person.pk}/password/",
        {"usable_password": "true", "password1": "Another-pw-2026", "password2": "Another-pw-2026"},
    )

    assert response.status_code == 302
    event = AuditEvent.objects.get(action="admin.change")
    assert event.target_label == "forgetful"
    assert "Another-pw-2026" not in str(event.details)
    assert "pbkdf2" not in str(event.details) and "md5" not in str(event.details)


def test_deleting_a_user_is_audited_by_name(admin_client):
    person = make_user(Role.SALES, username="leaver")
    person_id = person.pk

    response = admin_client.post(f"/admin/auth/user/{person_id}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not get_user_model().objects.filter(pk=person_id).exists()
    event = AuditEvent.objects.get(action="admin.delete")
    assert (event.actor_username, event.target_type, event.target_id, event.target_label) == (
        "admin",
        "auth.user",
        str(person_id),
        "leaver",
    )
    assert event.details == {"deleted_with": 1, "request_id": response["X-Request-ID"]}


def test_delete_selected_audits_every_user_it_deletes(admin_client):
    leavers = [make_user(Role.SALES, username=name) for name in ["leaver.one", "leaver.two", "leaver.three"]]

    response = admin_client.post(
        "/admin/auth/user/",
        {"action": "delete_selected", "_selected_action": [u.pk for u in leavers], "post": "yes"},
    )

    assert response.status_code == 302
    assert not get_user_model().objects.filter(username__startswith="leaver.").exists()
    events = AuditEvent.objects.filter(action="admin.delete")
    assert sorted(events.values_list("target_label", flat=True)) == [
        "leaver.one",
        "leaver.three",
        "leaver.two",
    ]
    assert {(e.actor_username, e.details["deleted_with"]) for e in events} == {("admin", 3)}


def test_changing_a_groups_permissions_is_audited(admin_client):
    group = Group.objects.create(name="Auditors")

    response = admin_client.post(f"/admin/auth/group/{group.pk}/change/", {"name": "External auditors"})

    assert response.status_code == 302
    event = AuditEvent.objects.get(action="admin.change")
    assert (event.target_type, event.target_label) == ("auth.group", "External auditors")
    assert event.details["fields"] == ["Name"]


def test_admins_own_history_is_still_kept(admin_client):
    person = make_user(Role.SALES, username="leaver")

    admin_client.post(f"/admin/auth/user/{person.pk}/delete/", {"post": "yes"})

    assert LogEntry.objects.get().object_repr == "leaver"


def test_the_portals_admins_all_use_the_audited_base():
    for model in [User, Group, AuditEvent]:
        assert isinstance(admin.site._registry[model], AuditedModelAdmin), model
