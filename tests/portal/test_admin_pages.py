"""Django admin for every model: who may open it, how it finds devices, what its actions go through."""

import csv
import io
import time
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from batches.drafts import job_from_input
from batches.jobs import job_confirm
from batches.models import BatchChunk, BatchItem, BatchJob
from core.admin import EstimatedCountPaginator, ResultCount
from core.audit import audit_record
from core.models import AuditEvent
from core.roles import Role
from customers.models import Customer, Vendor
from devices.models import Device, DeviceEvent, DeviceModel, SyncRun
from devices.services import device_unclaim
from devices.sync import sync_full
from tests.conftest import make_user
from tests.processes import portal_processes


def _claimed_imeis() -> list[str]:
    return list(Device.objects.filter(owner__isnull=False).exclude(imei="").values_list("imei", flat=True))


@pytest.fixture
def world(emulator, db):
    """Every model with rows: a synced cache (customers, vendors, devices, models, history, a sync
    run), a confirmed batch job (chunks, items, audit rows)."""
    emulator.seed(customers=3, vendors=1, devices=60, random_seed=7, customers_per_vendor=1)
    sync_full()
    customer = Customer.objects.filter(vendor__isnull=True, devices__isnull=False).first()
    imeis = _claimed_imeis()[:3]
    job = job_from_input(
        action="unclaim",
        mode="file",
        customer=None,
        any_owner=True,  # the devices are several customers'
        actor=None,
        upload=io.BytesIO(("imei\n" + "\n".join(imeis)).encode()),
        upload_name="devices.csv",
    )
    seller = make_user(Role.SALES, username="seller")
    job_confirm(job=job, actor=seller)
    device_unclaim(actor=seller, device=Device.objects.filter(owner__isnull=False).last())  # history
    return {"emulator": emulator, "customer": customer, "job": job}


def _one_of_each() -> dict[type, object]:
    return {
        Device: Device.objects.first(),
        DeviceEvent: DeviceEvent.objects.first(),
        DeviceModel: DeviceModel.objects.first(),
        SyncRun: SyncRun.objects.first(),
        Customer: Customer.objects.first(),
        Vendor: Vendor.objects.first(),
        BatchJob: BatchJob.objects.first(),
        BatchChunk: BatchChunk.objects.first(),
        BatchItem: BatchItem.objects.first(),
        AuditEvent: AuditEvent.objects.first(),
        User: User.objects.first(),
        Group: Group.objects.first(),
    }


def test_every_model_of_the_project_has_an_audited_admin():
    from django.apps import apps

    from core.admin import AuditedModelAdmin

    project_models = [
        model
        for app in ("portal", "customers", "devices", "batches", "reports")
        for model in apps.get_app_config(app).get_models()
        if not model._meta.is_composite_pk  # admin refuses them (SearchKey: shown on the device page)
    ]
    for model in [*project_models, User, Group]:
        assert admin.site.is_registered(model), model
        assert isinstance(admin.site.get_model_admin(model), AuditedModelAdmin), model


def test_every_admin_page_opens_for_admins_and_is_refused_to_everyone_else(world, client_as):
    objects = _one_of_each()
    assert all(objects.values()), {model: obj for model, obj in objects.items() if obj is None}
    pages = []
    for model, obj in objects.items():
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        pages += [reverse(f"{name}_changelist"), reverse(f"{name}_change", args=[obj.pk])]
    for model in admin.site._registry:  # every other registered model's list (the reports' rollups...)
        pages.append(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"))
    pages += [reverse("admin:index"), reverse("admin:auth_user_add")]
    pages = list(dict.fromkeys(pages))

    admins, sales, managers = client_as(Role.ADMINS), client_as(Role.SALES), client_as(Role.MANAGERS)
    for page in pages:
        assert admins.get(page).status_code == 200, page
        assert sales.get(page, follow=True).status_code == 403, page
        assert managers.get(page, follow=True).status_code == 403, page


def test_the_cache_cannot_be_edited_added_to_or_deleted_in_admin(world, client_as):
    admins = client_as(Role.ADMINS)
    device = Device.objects.filter(owner__isnull=False).first()
    change = reverse("admin:devices_device_change", args=[device.pk])

    page = admins.get(change)
    response = admins.post(change, {"model": "Hacked", "owner": ""})

    assert response.status_code == 403
    device.refresh_from_db()
    assert device.model != "Hacked"
    assert 'name="model"' not in page.text  # every field is shown read-only
    for model in ("device", "deviceevent", "customer", "vendor", "syncrun", "auditevent"):
        assert admins.get(reverse(f"admin:{model_app(model)}_{model}_add")).status_code == 403


def model_app(model_name: str) -> str:
    return {"customer": "customers", "vendor": "customers", "auditevent": "portal"}.get(model_name, "devices")


def test_a_device_is_found_by_any_identifier_or_its_beginning(world, client_as):
    admins = client_as(Role.ADMINS)
    device = Device.objects.filter(owner__isnull=False).exclude(imei="").first()
    url = reverse("admin:devices_device_changelist")

    by_imei = admins.get(url, {"q": device.imei})
    by_prefix = admins.get(url, {"q": device.imei[:12]})
    by_lower_serial = admins.get(url, {"q": device.serial_number.lower()}) if device.serial_number else None
    by_id = admins.get(url, {"q": str(device.device_id)})
    nothing = admins.get(url, {"q": "00000000000000"})

    assert list(by_imei.context["cl"].result_list) == [device]
    assert device in by_prefix.context["cl"].result_list
    if by_lower_serial is not None:
        assert device in by_lower_serial.context["cl"].result_list
    assert list(by_id.context["cl"].result_list) == [device]
    assert list(nothing.context["cl"].result_list) == []


def test_devices_are_filtered_by_customer_model_and_claim_state(world, client_as):
    admins = client_as(Role.ADMINS)
    customer = world["customer"]
    url = reverse("admin:devices_device_changelist")
    entry = DeviceModel.objects.first()

    for_customer = admins.get(url, {"customer": customer.pk}).context["cl"].result_list
    unclaimed = admins.get(url, {"claim": "unclaimed"}).context["cl"].result_list
    of_model = admins.get(url, {"device_model": entry.pk}).context["cl"].result_list

    assert {d.owner_id for d in for_customer} == {customer.pk}
    assert len(for_customer) == Device.objects.filter(owner=customer).count()
    assert unclaimed and all(d.owner_id is None for d in unclaimed)
    assert len(unclaimed) == Device.objects.filter(owner__isnull=True).count()
    assert {(d.manufacturer, d.model) for d in of_model} == {(entry.manufacturer, entry.model)}


def test_the_history_is_searched_by_device_identifier_and_filtered(world, client_as):
    admins = client_as(Role.ADMINS)
    device = Device.objects.exclude(imei="").first()
    url = reverse("admin:devices_deviceevent_changelist")

    device = DeviceEvent.objects.first().device
    url = reverse("admin:devices_deviceevent_changelist")

    found = admins.get(url, {"q": device.imei}).context["cl"].result_list
    unclaims = admins.get(url, {"kind__exact": "unclaimed"}).context["cl"].result_list
    claims = admins.get(url, {"kind__exact": "claimed"}).context["cl"].result_list
    linked = admins.get(url, {"device__device_id__exact": device.pk}).context["cl"].result_list

    assert found and {event.device_id for event in found} == {device.pk}
    assert unclaims and {event.kind for event in unclaims} == {"unclaimed"}
    assert not claims
    assert list(linked) == list(found)


def test_big_lists_are_never_counted_whole(world, client_as):
    admins = client_as(Role.ADMINS)

    with CaptureQueriesContext(connection) as queries:
        response = admins.get(reverse("admin:devices_device_changelist"))

    assert response.status_code == 200
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and "device" in q["sql"].lower()]
    assert counts and all("LIMIT" in sql.upper() for sql in counts), counts


def test_the_paginator_caps_a_count_and_estimates_an_unfiltered_table_on_postgresql(world):
    class SmallCap(EstimatedCountPaginator):
        cap = 10

    devices = Device.objects.count()
    assert devices > 10
    filtered = SmallCap(Device.objects.filter(owner__isnull=False), 100)
    assert filtered.count == 10
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {Device._meta.db_table}")
        assert SmallCap(Device.objects.all(), 100).count == devices  # pg_class.reltuples after ANALYZE
    else:
        assert SmallCap(Device.objects.all(), 100).count == 10


def test_a_capped_count_says_more_than_and_an_estimate_says_about(world, client_as, monkeypatch):
    """Admin's "10000 results" for 19,430 devices was untrue: a count stopped at the cap says so."""
    monkeypatch.setattr(EstimatedCountPaginator, "cap", 10)
    assert Device.objects.filter(owner__isnull=False).count() > 10
    one = Device.objects.exclude(imei="").first()
    admins = client_as(Role.ADMINS)
    url = reverse("admin:devices_device_changelist")

    many = admins.get(url, {"claim": "claimed"}).text
    exact = admins.get(url, {"q": one.imei}).text

    assert "more than 10 devices" in many
    assert "1 device" in exact and "more than" not in exact
    assert str(ResultCount(19_430, "estimate")) == "about 19,430"  # PostgreSQL's planner, unfiltered
    assert str(ResultCount(1_234)) == "1,234" and ResultCount(10, "capped") == 10


def test_cancel_in_admin_goes_through_the_batch_service_and_is_audited(world, client_as):
    job = world["job"]
    admins = client_as(Role.ADMINS)

    response = admins.post(
        reverse("admin:batches_batchjob_changelist"),
        {"action": "cancel", "_selected_action": [job.pk]},
        follow=True,
    )

    job.refresh_from_db()
    assert job.state == BatchJob.State.CANCELLED
    rows = "row" if job.cancelled == 1 else "rows"
    assert f"Batch {job.pk}: Cancelled {job.cancelled:,} {rows} not sent yet." in response.text
    event = AuditEvent.objects.get(action="batch.cancel")
    assert (event.actor_username, event.target_id) == ("admin", str(job.pk))
    again = admins.post(
        reverse("admin:batches_batchjob_changelist"),
        {"action": "retry_failed", "_selected_action": [job.pk]},
        follow=True,
    )
    assert f"Batch {job.pk}: No row of this job failed." in again.text


def test_a_jobs_items_are_listed_from_its_page_and_filtered(world, client_as):
    job = world["job"]
    admins = client_as(Role.ADMINS)

    page = admins.get(reverse("admin:batches_batchjob_change", args=[job.pk]))
    items = admins.get(
        reverse("admin:batches_batchitem_changelist"), {"job__id__exact": job.pk, "state": "pending"}
    )

    assert f"?job__id__exact={job.pk}" in page.text
    assert {item.job_id for item in items.context["cl"].result_list} == {job.pk}
    assert len(items.context["cl"].result_list) == job.ready


# --- The audit log ---------------------------------------------------------------------------------


def test_the_audit_log_exports_csv_that_spreadsheets_open_as_text(client_as):
    admins = client_as(Role.ADMINS)
    for label in ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "\tTab", "\rReturn", "Plain"]:
        audit_record(actor=None, action="test.export", target_type="x", target_label=label)
    events = AuditEvent.objects.filter(action="test.export")

    response = admins.post(
        reverse("admin:portal_auditevent_changelist"),
        {"action": "export_csv", "_selected_action": [e.pk for e in events]},
    )

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert sorted(row["target_label"] for row in rows) == sorted(
        ['\'=HYPERLINK("http://x")', "'+1", "'-2", "'@SUM(A1)", "'\tTab", "'\rReturn", "Plain"]
    )
    assert AuditEvent.objects.filter(action="audit.export", actor_username="admin").count() == 1


def test_the_audit_log_is_filtered_by_actor_action_outcome_and_date(client_as):
    admins = client_as(Role.ADMINS)
    seller = make_user(Role.SALES, username="seller")
    audit_record(actor=seller, action="claim", target_type="device", target_id="1")
    audit_record(actor=None, action="auth.sign_in_failed", outcome=AuditEvent.Outcome.FAILED)
    url = reverse("admin:portal_auditevent_changelist")

    by_seller = admins.get(url, {"actor": seller.pk}).context["cl"].result_list
    by_system = admins.get(url, {"actor": "system"}).context["cl"].result_list
    failures = admins.get(url, {"outcome__exact": "failed"}).context["cl"].result_list
    claims = admins.get(url, {"action__exact": "claim"}).context["cl"].result_list
    midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    today = admins.get(url, {"created_at__gte": str(midnight)}).context["cl"].result_list
    tomorrow = (
        admins.get(url, {"created_at__gte": str(midnight + timedelta(days=1))}).context["cl"].result_list
    )

    assert [e.action for e in by_seller] == ["claim"]
    assert [e.action for e in by_system] == ["auth.sign_in_failed"]
    assert [e.action for e in failures] == ["auth.sign_in_failed"]
    assert [e.actor_username for e in claims] == ["seller"]
    assert len(today) == 2
    assert len(tomorrow) == 0


# --- Users and their role --------------------------------------------------------------------------


def test_the_role_is_a_column_and_one_choice_on_the_user_form(client_as):
    admins = client_as(Role.ADMINS)
    person = make_user(Role.SALES, username="moving.on")

    listing = admins.get(reverse("admin:auth_user_changelist"))
    form = admins.get(reverse("admin:auth_user_change", args=[person.pk]))

    assert '<td class="field-role">Sales</td>' in listing.text
    assert '<select name="role"' in form.text
    assert 'name="groups"' not in form.text
    assert form.context["adminform"].form.fields["role"].initial == "Sales"


def test_choosing_admins_makes_a_staff_member_and_a_later_role_takes_it_away(client_as):
    from tests.core.test_admin_audit import change_form

    admins = client_as(Role.ADMINS)
    person = make_user(Role.SALES, username="promoted")
    url = reverse("admin:auth_user_change", args=[person.pk])

    assert admins.post(url, change_form(person, role="Admins")).status_code == 302
    person.refresh_from_db()
    assert (list(person.groups.values_list("name", flat=True)), person.is_staff) == (["Admins"], True)

    assert admins.post(url, change_form(person, role="Managers")).status_code == 302
    person.refresh_from_db()
    assert (list(person.groups.values_list("name", flat=True)), person.is_staff) == (["Managers"], False)
    event = AuditEvent.objects.filter(action="admin.change", target_id=str(person.pk)).first()
    assert event.details["fields"] == ["Role"]
    assert event.details["role_after"] == "Managers"


# --- Sync runs ---------------------------------------------------------------------------------------


def test_a_sync_run_shows_its_duration_counts_and_errors(world, client_as):
    run = SyncRun.objects.first()
    admins = client_as(Role.ADMINS)

    listing = admins.get(reverse("admin:devices_syncrun_changelist"))
    page = admins.get(reverse("admin:devices_syncrun_change", args=[run.pk]))

    assert "Start a sync" in listing.text
    assert f'<td class="field-devices_fetched">{run.devices_fetched}</td>' in listing.text
    assert "min" in page.text and "Errors in words" in page.text


def test_start_a_sync_refuses_a_get_and_people_who_are_not_admins(world, client_as):
    url = reverse("admin:devices_syncrun_start")
    assert client_as(Role.ADMINS).get(url).status_code == 405
    assert client_as(Role.SALES).post(url, follow=True).status_code == 403
    assert not AuditEvent.objects.filter(action="sync.start").exists()


def test_start_a_sync_while_one_runs_says_so_and_starts_nothing(world, client_as):
    SyncRun.objects.create(status=SyncRun.Status.RUNNING, trigger="beat")

    response = client_as(Role.ADMINS).post(reverse("admin:devices_syncrun_start"), follow=True)

    assert "No sync was started" in response.text
    assert SyncRun.objects.filter(status=SyncRun.Status.RUNNING).count() == 1
    assert not AuditEvent.objects.filter(action="sync.start").exists()


def test_start_a_sync_runs_it_on_a_real_worker_and_audits_who_asked(transactional_db, emulator, tmp_path):
    from django.test import Client

    from portal.celery import app

    emulator.seed(customers=2, vendors=1, devices=30, random_seed=3, customers_per_vendor=1)
    person = make_user(Role.ADMINS, username="operator")
    browser = Client()
    browser.force_login(person)
    with portal_processes(
        emulator_url=emulator.url, partner_id=str(emulator.partner_id), variables={}, tmp=tmp_path
    ) as processes:
        app.conf.task_default_queue = processes.queue
        processes.start_worker()
        try:
            response = browser.post(reverse("admin:devices_syncrun_start"), follow=True)
            assert "A full sync has started" in response.text
            run = SyncRun.objects.get()
            for _ in range(300):
                run.refresh_from_db()
                if run.status != SyncRun.Status.RUNNING:
                    break
                time.sleep(0.1)
        finally:
            app.conf.task_default_queue = "celery"
        assert run.status == SyncRun.Status.SUCCEEDED, processes.log_text()
    assert run.trigger == "admin: Operator"  # the person by name, as every page names people
    assert Device.objects.count() == 30
    event = AuditEvent.objects.get(action="sync.start")
    assert (event.actor_username, event.target_id) == ("operator", str(run.pk))
