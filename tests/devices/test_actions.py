"""Claim, unclaim, metadata and look-up of one device, through the views, against a real emulator."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from batches.drafts import job_from_input
from core.models import AuditEvent
from core.roles import Role
from customers.models import Customer
from devices.models import Device, DeviceEvent
from devices.sync import sync_full
from tests.devices.factories import emulator_device, make_imei

HTMX = {"HX-Request": "true"}


@pytest.fixture
def portal(emulator, client_as, db):
    """An emulator with customers (already in the cache) and a signed-in salesperson."""
    emulator.seed(customers=3, vendors=0, devices=30, random_seed=21)
    sync_full()
    customers = list(Customer.objects.order_by("name"))
    return {
        "emulator": emulator,
        "client": client_as(Role.SALES),
        "customer": customers[0],
        "other": customers[1],
    }


def claim(client, customer, imei, **extra):
    data = {"device_type": "android", "imei": imei, "customer": customer.company_id, **extra}
    return client.post("/devices/claim/", data, headers=HTMX)


def test_claiming_a_device_claims_it_in_zero_touch_and_updates_the_cache(portal):
    imei = make_imei(70001)

    response = claim(portal["client"], portal["customer"], imei, order_number="SO-9", phone_number="+441234")

    assert response.status_code == 200
    assert f"for {portal['customer'].name}" in response.text and "<html" not in response.text
    remote = emulator_device(portal["emulator"], imei)
    assert remote["claims"][0]["ownerCompanyId"] == str(portal["customer"].company_id)
    assert remote["deviceMetadata"]["entries"] == {"ordernumber": "SO-9", "phonenumber": "+441234"}
    device = Device.objects.get(imei=imei)
    assert (device.owner_id, device.order_number) == (portal["customer"].company_id, "SO-9")
    assert DeviceEvent.objects.get(device=device).kind == DeviceEvent.Kind.CLAIMED
    audit = AuditEvent.objects.get(action="device.claim")
    assert (audit.outcome, audit.actor_username, audit.target_id) == (
        "succeeded",
        "sales",
        str(device.device_id),
    )


def test_a_device_of_another_customer_is_refused_with_that_customers_name(portal):
    imei = make_imei(70002)
    claim(portal["client"], portal["other"], imei)

    response = claim(portal["client"], portal["customer"], imei)

    other = portal["other"]
    assert (
        f"This device is claimed by another customer, {other.name} (id {other.company_id}). "
        "Unclaim it there first."
    ) in response.text
    assert emulator_device(portal["emulator"], imei)["claims"][0]["ownerCompanyId"] == str(other.company_id)
    assert AuditEvent.objects.filter(action="device.claim", outcome="failed").count() == 1
    failed = DeviceEvent.objects.get(outcome=DeviceEvent.Outcome.FAILED)
    assert (failed.kind, failed.failure_kind, failed.title) == (
        DeviceEvent.Kind.CLAIMED,
        "other_customer",
        "Claim failed",
    )
    # The cache held the device (the first claim cached it): the failure is in its history.
    assert failed.device_id == Device.objects.get(imei=imei).device_id


def test_claiming_again_for_the_same_customer_is_harmless(portal):
    imei = make_imei(70003)
    claim(portal["client"], portal["customer"], imei)

    response = claim(portal["client"], portal["customer"], imei)

    assert f"for {portal['customer'].name}" in response.text
    assert Device.objects.filter(imei=imei).count() == 1


def test_invalid_identifiers_are_refused_before_any_api_call(portal):
    emulator = portal["emulator"]
    emulator.clear_requests_log()
    typo = make_imei(70004)[:-1] + str((int(make_imei(70004)[-1]) + 1) % 10)

    wrong_digit = claim(portal["client"], portal["customer"], typo)
    serial_alone = portal["client"].post(
        "/devices/claim/",
        {"device_type": "android", "serial_number": "R58N1", "customer": portal["customer"].company_id},
        headers=HTMX,
    )
    no_customer = portal["client"].post(
        "/devices/claim/", {"device_type": "android", "imei": make_imei(1)}, headers=HTMX
    )

    assert "check digit is wrong: the last digit should be" in wrong_digit.text
    assert "A serial number needs the manufacturer" in serial_alone.text
    assert "Choose a customer." in no_customer.text
    assert emulator.requests_log(method="partners.devices.claim") == []


def test_an_identifier_the_api_refuses_is_shown_next_to_its_field(portal):
    response = portal["client"].post(
        "/devices/claim/",
        {
            "device_type": "android",
            "serial_number": "R58N1",
            "manufacturer": "NoSuchMaker",
            "model": "X1",
            "customer": portal["customer"].company_id,
        },
        headers=HTMX,
    )

    assert "Zero-touch refused the device details" in response.text
    assert 'aria-invalid="true"' in response.text


def test_server_errors_say_nothing_was_changed(portal, settings):
    settings.ZT_INTERACTIVE_DEADLINE = 1.0
    portal["emulator"].set_faults(error_rate=1.0, error_codes=[503], methods=["partners.devices.claim"])

    response = claim(portal["client"], portal["customer"], make_imei(70005))

    assert (
        "Zero-touch had a temporary problem" in response.text or "Zero-touch did not confirm" in response.text
    )
    assert "Traceback" not in response.text and "{" not in response.text.split("<form")[0]
    assert AuditEvent.objects.get(action="device.claim").outcome in ("failed", "unknown")


def test_a_timeout_after_sending_says_the_outcome_is_unknown(portal, settings):
    from core.api import reset_zerotouch_client

    settings.ZT_INTERACTIVE_DEADLINE = 1.0
    reset_zerotouch_client()
    portal["emulator"].set_faults(latency_ms=2500, methods=["partners.devices.claim"])

    response = claim(portal["client"], portal["customer"], make_imei(70006))

    assert "may or may not have" in response.text
    assert "Search for the device" in response.text
    assert AuditEvent.objects.get(action="device.claim").outcome == "unknown"


def test_unclaim_after_confirming(portal):
    imei = make_imei(70007)
    claim(portal["client"], portal["customer"], imei)
    device = Device.objects.get(imei=imei)

    confirm = portal["client"].get(f"/devices/{device.device_id}/unclaim/", headers=HTMX)
    response = portal["client"].post(f"/devices/{device.device_id}/unclaim/", {}, headers=HTMX)

    assert "Unclaim this device from" in confirm.text
    assert "Unclaimed." in response.text
    assert 'id="history" hx-swap-oob="true"' in response.text
    assert not emulator_device(portal["emulator"], imei).get("claims")
    device.refresh_from_db()
    assert device.owner_id is None
    assert device.events.first().kind == DeviceEvent.Kind.UNCLAIMED
    assert AuditEvent.objects.filter(action="device.unclaim", outcome="succeeded").count() == 1


def test_unclaim_with_vacation_mode_keeps_the_claim_until_it_ends(portal):
    imei = make_imei(70012)
    claim(portal["client"], portal["customer"], imei)
    device = Device.objects.get(imei=imei)

    response = portal["client"].post(
        f"/devices/{device.device_id}/unclaim/", {"vacation_mode_days": "7"}, headers=HTMX
    )

    assert "Vacation mode until" in response.text
    sent = portal["emulator"].requests_log(method="partners.devices.unclaim")
    assert len(sent) == 1 and sent[0]["body"]["vacationModeDays"] == 7
    assert emulator_device(portal["emulator"], imei)["claims"][0]["vacationModeExpireTime"]
    device.refresh_from_db()
    assert device.vacation_mode_expire_time is not None


def test_unclaiming_a_device_unclaimed_outside_the_portal_is_nothing_to_change(portal):
    imei = make_imei(70013)
    claim(portal["client"], portal["customer"], imei)
    device = Device.objects.get(imei=imei)
    status, body = portal["emulator"].api(
        "POST",
        f"/v1/partners/{portal['emulator'].partner_id}/devices:unclaim",
        {"deviceId": str(device.device_id), "sectionType": "SECTION_TYPE_ZERO_TOUCH"},
    )
    assert status == 200, body

    response = portal["client"].post(f"/devices/{device.device_id}/unclaim/", {}, headers=HTMX)

    assert "Zero-touch shows it unclaimed already: nothing to change." in response.text
    assert AuditEvent.objects.get(action="device.unclaim").outcome == "noop"
    device.refresh_from_db()
    assert device.owner_id is None  # the cache now shows what zero-touch holds
    assert device.events.first().title == "Unclaim: nothing to change"


def test_editing_metadata_sets_and_removes_keys(portal):
    imei = make_imei(70008)
    claim(portal["client"], portal["customer"], imei, order_number="SO-1", phone_number="+4400")
    device = Device.objects.get(imei=imei)

    response = portal["client"].post(
        f"/devices/{device.device_id}/metadata/",
        {"order_number": "SO-2", "phone_number": "", "other_key": "assetowner", "other_value": "Finance"},
        headers=HTMX,
    )

    assert "Metadata saved." in response.text
    assert emulator_device(portal["emulator"], imei)["deviceMetadata"]["entries"] == {
        "ordernumber": "SO-2",
        "assetowner": "Finance",
    }
    device.refresh_from_db()
    assert device.metadata == {"ordernumber": "SO-2", "assetowner": "Finance"}
    assert device.events.first().kind == DeviceEvent.Kind.METADATA_CHANGED


def test_metadata_is_offered_only_on_claimed_devices_and_refused_in_words_otherwise(portal):
    """Zero-touch keeps a reseller's metadata only on devices it claimed: an unclaimed device's page
    says so instead of offering a form that then fails vaguely."""
    client = portal["client"]
    claimed, unclaimed = Device.objects.filter(owner__isnull=False).exclude(imei="")[:2]
    client.post(f"/devices/{unclaimed.device_id}/unclaim/", {}, headers=HTMX)
    unclaimed.refresh_from_db()
    assert unclaimed.owner_id is None

    page = client.get(f"/devices/{unclaimed.device_id}/").text
    form = client.get(f"/devices/{unclaimed.device_id}/metadata/", headers=HTMX).text
    posted = client.post(f"/devices/{unclaimed.device_id}/metadata/", {"order_number": "SO-1"}, headers=HTMX)

    assert "Edit metadata" not in page and "Metadata can be set once the device is claimed" in page
    assert "Save metadata" not in form and "Metadata can be set once the device is claimed" in form
    assert "Metadata can be set once the device is claimed" in posted.text
    assert portal["emulator"].requests_log(method="partners.devices.metadata") == []
    assert "Edit metadata" in client.get(f"/devices/{claimed.device_id}/").text


def test_a_device_of_a_vendors_customer_is_refused_with_the_truth(emulator, client_as, db):
    """The reseller may unclaim its vendors' devices (the Unclaim button works): the refusal says so,
    rather than "only that reseller can unclaim it"."""
    emulator.seed(customers=2, vendors=1, devices=40, random_seed=23, customers_per_vendor=1)
    sync_full()
    held = Device.objects.filter(sold_by_vendor=True).exclude(imei="").select_related("owner__vendor").first()
    own = Customer.objects.filter(vendor__isnull=True).first()

    response = claim(client_as(Role.SALES), own, held.imei)

    assert (
        f"This device is claimed by your vendor {held.owner.vendor.name} for its customer {held.owner.name} "
        f"(id {held.owner_id}). As its reseller you may unclaim it"
    ) in response.text
    assert "Only that reseller can unclaim it" not in response.text


def test_looking_up_a_device_the_cache_does_not_have(portal):
    imei = make_imei(70009)
    status, body = portal["emulator"].api(
        "POST",
        f"/v1/partners/{portal['emulator'].partner_id}/devices:claim",
        {
            "customerId": str(portal["other"].company_id),
            "sectionType": "SECTION_TYPE_ZERO_TOUCH",
            "deviceIdentifier": {"imei": imei},
        },
    )
    assert status == 200, body
    assert "No device in the cache matches" in portal["client"].get("/devices/", {"q": imei}).text

    response = portal["client"].get("/devices/lookup/", {"q": imei}, headers={**HTMX, "HX-Target": "results"})

    assert "Looked up live in zero-touch" in response.text
    assert portal["other"].name in response.text
    assert Device.objects.get(imei=imei).owner_id == portal["other"].company_id


def test_without_htmx_a_claim_redirects_to_the_device(portal):
    imei = make_imei(70010)

    response = portal["client"].post(
        "/devices/claim/", {"device_type": "android", "imei": imei, "customer": portal["customer"].company_id}
    )

    device = Device.objects.get(imei=imei)
    assert response.status_code == 302 and response["Location"] == f"/devices/{device.device_id}/"


def test_managers_see_no_actions_and_may_not_post(portal, client_as):
    imei = make_imei(70011)
    claim(portal["client"], portal["customer"], imei)
    device = Device.objects.get(imei=imei)
    manager = client_as(Role.MANAGERS)

    page = manager.get(f"/devices/{device.device_id}/")

    assert "Unclaim" not in page.text and "Edit metadata" not in page.text
    assert "Claim a device" not in manager.get("/devices/").text
    assert manager.post(f"/devices/{device.device_id}/unclaim/", headers=HTMX).status_code == 403
    assert manager.post(f"/devices/{device.device_id}/metadata/", {"order_number": "x"}).status_code == 403
    assert manager.post("/devices/claim/", {"imei": make_imei(2)}).status_code == 403
    assert Device.objects.get(imei=imei).owner_id == portal["customer"].company_id


def test_claiming_a_chromeos_device_for_a_workspace_customer(portal):
    emulator = portal["emulator"]
    status, body = emulator.api("GET", f"/v1/partners/{emulator.partner_id}/customers")
    assert status == 200, body
    workspace = next(c for c in body["customers"] if c.get("googleWorkspaceAccount"))
    customer = Customer.objects.get(pk=int(workspace["companyId"]))
    assert customer.google_workspace_customer_id == workspace["googleWorkspaceAccount"]["customerId"]

    response = portal["client"].post(
        "/devices/claim/",
        {
            "device_type": "chrome_os",
            "serial_number": "5CD2041XYZ",
            "manufacturer": "HP",
            "model": "HP Chromebook 14 G7",
            "chrome_os_attested_device_id": "5CD2041XYZ",
            "customer": customer.company_id,  # the Workspace id comes from the customer's record
            "pre_provisioning_token": workspace["googleWorkspaceAccount"]["preProvisioningTokens"][0],
        },
        headers=HTMX,
    )

    assert f"for {customer.name}" in response.text, response.text
    device = Device.objects.get(serial_number="5CD2041XYZ")
    assert device.device_type == "DEVICE_TYPE_CHROME_OS"
    assert device.google_workspace_customer_id == customer.google_workspace_customer_id
    sent = emulator.requests_log(method="partners.devices.claim")[-1]["body"]
    assert sent["googleWorkspaceCustomerId"] == customer.google_workspace_customer_id
    assert "customerId" not in sent


def test_a_chromeos_claim_without_a_token_is_refused_before_the_api(portal):
    portal["emulator"].clear_requests_log()

    response = portal["client"].post(
        "/devices/claim/",
        {
            "device_type": "chrome_os",
            "serial_number": "5CD2041XYZ",
            "model": "HP Chromebook 14 G7",
            "chrome_os_attested_device_id": "5CD2041XYZ",
            "customer": portal["customer"].company_id,
        },
        headers=HTMX,
    )

    assert "needs its pre-provisioning token" in response.text
    assert portal["emulator"].requests_log(method="partners.devices.claim") == []


# --- What the portal records: its own changes are never drift, repeats are "nothing to change" ----


def test_claiming_a_device_the_cache_holds_unclaimed_records_no_drift(portal):
    imei = make_imei(70020)
    claim(portal["client"], portal["customer"], imei)
    device = Device.objects.get(imei=imei)
    portal["client"].post(f"/devices/{device.device_id}/unclaim/", {}, headers=HTMX)
    assert Device.objects.get(imei=imei).owner_id is None

    response = claim(portal["client"], portal["customer"], imei)

    assert f"Claimed for {portal['customer'].name}." in response.text
    kinds = list(device.events.order_by("id").values_list("kind", "outcome"))
    assert kinds == [("claimed", "succeeded"), ("unclaimed", "succeeded"), ("claimed", "succeeded")]
    assert not DeviceEvent.objects.filter(kind__startswith="drift").exists()


def test_a_repeated_claim_is_recorded_as_nothing_to_change(portal):
    imei = make_imei(70021)
    claim(portal["client"], portal["customer"], imei)

    response = claim(portal["client"], portal["customer"], imei)

    assert f"Already claimed for {portal['customer'].name}: nothing to change." in response.text
    device = Device.objects.get(imei=imei)
    assert [e.title for e in device.events.order_by("id")] == ["Claimed", "Claim: nothing to change"]
    assert list(
        AuditEvent.objects.filter(action="device.claim").order_by("id").values_list("outcome", flat=True)
    ) == [
        "succeeded",
        "noop",
    ]


# --- A change zero-touch made is a success, even when the device cannot be read back --------------


def test_an_unclaim_done_while_reads_fail_is_a_success(portal):
    imei = make_imei(70022)
    claim(portal["client"], portal["customer"], imei)
    device = Device.objects.get(imei=imei)
    portal["emulator"].set_faults(error_rate=1.0, error_codes=[500], methods=["partners.devices.get"])

    response = portal["client"].post(f"/devices/{device.device_id}/unclaim/", {}, headers=HTMX)

    assert response.status_code == 200
    assert "Unclaimed." in response.text
    assert not emulator_device(portal["emulator"], imei).get("claims")
    device.refresh_from_db()
    assert device.owner_id is None and device.changed_at is not None
    assert AuditEvent.objects.get(action="device.unclaim").outcome == "succeeded"
    assert device.events.first().title == "Unclaimed"


def test_metadata_saved_while_reads_fail_is_a_success(portal):
    imei = make_imei(70023)
    claim(portal["client"], portal["customer"], imei, order_number="SO-1")
    device = Device.objects.get(imei=imei)
    portal["emulator"].set_faults(error_rate=1.0, error_codes=[500], methods=["partners.devices.get"])

    response = portal["client"].post(
        f"/devices/{device.device_id}/metadata/", {"order_number": "SO-2", "phone_number": ""}, headers=HTMX
    )

    assert "Metadata saved." in response.text
    device.refresh_from_db()
    assert device.metadata == {"ordernumber": "SO-2"}
    assert portal["client"].get("/devices/", {"q": "so-2"}).text.count(f"/devices/{device.device_id}/") == 1
    assert AuditEvent.objects.get(action="device.metadata").outcome == "succeeded"


def test_a_new_device_claimed_while_reads_fail_is_cached_from_the_claim(portal):
    imei = make_imei(70024)
    portal["emulator"].set_faults(error_rate=1.0, error_codes=[500], methods=["partners.devices.get"])

    response = claim(portal["client"], portal["customer"], imei, order_number="SO-77")

    assert f"Claimed for {portal['customer'].name}." in response.text
    assert "other details will refresh" in response.text
    device = Device.objects.get(imei=imei)
    assert (device.owner_id, device.order_number) == (portal["customer"].company_id, "SO-77")
    assert device.device_id == int(emulator_device(portal["emulator"], imei)["deviceId"])
    assert AuditEvent.objects.get(action="device.claim").outcome == "succeeded"


def test_a_sync_page_read_before_a_portal_change_does_not_undo_it(portal):
    from devices.store import cache_store_rows, device_row

    imei = make_imei(70025)
    claim(portal["client"], portal["customer"], imei)
    device = Device.objects.get(imei=imei)
    before = emulator_device(portal["emulator"], imei)
    read_at = timezone.now()
    portal["client"].post(f"/devices/{device.device_id}/unclaim/", {}, headers=HTMX)

    # A sync that read the device while it was still claimed writes only now.
    cache_store_rows([device_row(before, now=read_at, vendor_customers=set())])

    device.refresh_from_db()
    assert device.owner_id is None
    assert not DeviceEvent.objects.filter(kind__startswith="drift").exists()


# --- Messages say what happened ----------------------------------------------------------------


def test_a_claim_answered_with_server_errors_says_nothing_was_changed(portal, settings):
    settings.ZT_INTERACTIVE_DEADLINE = 1.0
    portal["emulator"].set_faults(error_rate=1.0, error_codes=[503], methods=["partners.devices.claim"])

    response = claim(portal["client"], portal["customer"], make_imei(70026))

    assert "Zero-touch had a temporary problem (the claim); nothing was changed." in response.text
    assert "may or may not" not in response.text
    audit = AuditEvent.objects.get(action="device.claim")
    assert (audit.outcome, audit.details["failure_kind"]) == ("failed", "temporary")


def test_a_look_up_that_times_out_speaks_of_no_change(portal, settings):
    from core.api import reset_zerotouch_client

    settings.ZT_INTERACTIVE_DEADLINE = 1.0
    reset_zerotouch_client()
    portal["emulator"].set_faults(latency_ms=2500, methods=["partners.devices.findByIdentifier"])

    response = portal["client"].get("/devices/lookup/", {"q": make_imei(70027)}, headers=HTMX)

    assert "did not answer in time (the look-up)" in response.text
    assert "change" not in response.text.lower()


def test_only_roles_that_change_devices_may_refresh_them(portal, client_as):
    imei = make_imei(70028)
    claim(portal["client"], portal["customer"], imei)
    device = Device.objects.get(imei=imei)
    portal["emulator"].clear_requests_log()
    portal["emulator"].clear_stats()

    manager = client_as(Role.MANAGERS)
    refused = manager.post(f"/devices/{device.device_id}/refresh/", headers=HTMX)
    page = manager.get(f"/devices/{device.device_id}/")

    assert refused.status_code == 403
    assert "Refresh from zero-touch" not in page.text
    assert "partners.devices.get" not in portal["emulator"].stats()["methods"]
    assert portal["client"].post(f"/devices/{device.device_id}/refresh/", headers=HTMX).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_five_identical_claims_at_once_record_one_claim(emulator, client_as):
    """A double (or fivefold) submit reaches the API five times; the portal records one claim and four
    repeats, whatever order the requests end in."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    emulator.seed(customers=2, vendors=0, devices=10, random_seed=22)
    sync_full()
    customer = Customer.objects.order_by("name").first()
    imei = make_imei(70031)
    claim(client_as(Role.SALES), customer, imei)  # then unclaimed: the cache holds it, unclaimed
    device = Device.objects.get(imei=imei)
    client_as(Role.SALES).post(f"/devices/{device.device_id}/unclaim/", {}, headers=HTMX)

    def submit(_):
        try:
            return claim(client_as(Role.SALES), customer, imei).status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(5) as pool:
        statuses = list(pool.map(submit, range(5)))

    assert statuses == [200] * 5
    assert len(emulator.requests_log(method="partners.devices.claim")) == 6  # 1 before + 5 at once
    outcomes = list(
        device.events.filter(kind=DeviceEvent.Kind.CLAIMED).order_by("id").values_list("outcome", flat=True)
    )
    assert outcomes == ["succeeded", "succeeded", "noop", "noop", "noop", "noop"]
    audits = AuditEvent.objects.filter(action="device.claim").values_list("outcome", flat=True)
    assert sorted(audits) == ["noop"] * 4 + ["succeeded"] * 2


def test_people_are_named_by_their_full_names_in_history_batches_and_the_audit(portal, client_as):
    """The header said "Sam Seller" while the history said "sales": one name for a person everywhere."""
    get_user_model().objects.filter(username="sales").update(first_name="Sam", last_name="Seller")
    imei = make_imei(70090)
    claim(portal["client"], portal["customer"], imei)
    device = Device.objects.get(imei=imei)

    history = portal["client"].get(f"/devices/{device.device_id}/").text
    customer_page = portal["client"].get(f"/customers/{portal['customer'].pk}/").text
    home = client_as(Role.ADMINS).get("/").text  # admins see the audit log's latest rows

    job = job_from_input(
        action="claim",
        mode="file",
        customer=portal["customer"],
        actor=get_user_model().objects.get(username="sales"),
        upload=io.BytesIO(f"imei\n{make_imei(70091)}\n".encode()),
        upload_name="devices.csv",
    )
    jobs = portal["client"].get("/batches/").text

    for page in (history, customer_page, home, jobs):
        assert "<td>Sam Seller</td>" in page
        assert "<td>sales</td>" not in page
    assert "by Sam Seller," in portal["client"].get(f"/batches/{job.pk}/").text
