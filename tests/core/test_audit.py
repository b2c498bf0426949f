import pytest
from django.contrib.auth.models import AnonymousUser

from core.audit import audit_record
from core.models import AuditEvent
from core.roles import Role
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def test_recording_an_event_keeps_who_what_on_what_and_outcome():
    user = make_user(Role.SALES)
    group = user.groups.get()

    event = audit_record(actor=user, action="group.inspect", target=group, details={"reason": "check"})

    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.actor == user
    assert stored.actor_username == "sales"
    assert stored.action == "group.inspect"
    assert (stored.target_type, stored.target_id, stored.target_label) == (
        "auth.group",
        str(group.pk),
        "Sales",
    )
    assert stored.outcome == AuditEvent.Outcome.SUCCEEDED
    assert stored.details == {"reason": "check"}
    assert stored.created_at is not None


def test_a_system_event_has_no_actor_and_may_name_a_target_without_a_row():
    event = audit_record(
        actor=AnonymousUser(),
        action="device.unclaim",
        target_type="device",
        target_id="12345",
        outcome=AuditEvent.Outcome.FAILED,
    )

    assert event.actor is None
    assert event.actor_username == ""
    assert str(event) == "system device.unclaim 12345: Failed"


def test_the_actor_name_survives_the_account():
    user = make_user(Role.SALES, username="leaver")
    event = audit_record(actor=user, action="customer.create", target_type="customer", target_id="1")

    user.delete()

    event.refresh_from_db()
    assert event.actor is None
    assert event.actor_username == "leaver"


def test_events_cannot_be_changed_or_deleted():
    event = audit_record(actor=None, action="sync.run")

    event.action = "tampered"
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "sync.run"


def test_admin_shows_the_log_read_only(client_as):
    audit_record(actor=None, action="sync.run")
    client = client_as(Role.ADMINS)
    event = AuditEvent.objects.get()

    listing = client.get("/admin/portal/auditevent/")
    detail = client.get(f"/admin/portal/auditevent/{event.pk}/change/")
    deletion = client.get(f"/admin/portal/auditevent/{event.pk}/delete/")

    assert listing.status_code == 200
    assert "sync.run" in listing.text
    assert "Add audit event" not in listing.text
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.text  # no save button: read-only
    assert deletion.status_code == 403


def test_admins_see_recent_changes_on_their_home_page(client_as):
    audit_record(actor=None, action="customer.create", target_label="Acme Ltd")

    admin_home = client_as(Role.ADMINS).get("/")

    assert "Acme Ltd" in admin_home.text
