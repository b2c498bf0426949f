"""SIM lock on the device page: claims and unclaims in the SIM-lock section beside the zero-touch claim,
the SIM lock state looked up live, and the claims' additional service and vacation mode shown, through
the views against a real emulator."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django.utils import timezone

import zerotouch
from core.api import reset_zerotouch_client
from core.models import AuditEvent
from core.roles import Role
from customers.models import Customer
from devices.models import Device, DeviceEvent
from devices.store import cache_store_devices, cached_rows, row_claimed, row_unclaimed
from devices.sync import sync_full
from emulator.testing import EmulatorThread
from tests.devices.factories import emulator_device, make_customer, make_imei

HTMX = {"HX-Request": "true"}
ZERO_TOUCH = "SECTION_TYPE_ZERO_TOUCH"
SIM_LOCK = "SECTION_TYPE_SIM_LOCK"


@pytest.fixture
def portal(emulator, client_as, db):
    """An emulator with customers (already in the cache) and a signed-in salesperson."""
    emulator.seed(customers=3, vendors=0, devices=10, random_seed=24)
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


def claim_sim_lock(client, customer, imei, profile="4242", **extra):
    return claim(client, customer, imei, section_type=SIM_LOCK, simlock_profile_id=profile, **extra)


def claims_by_section(device: dict) -> dict[str, str]:
    return {c["sectionType"]: c.get("ownerCompanyId") for c in device.get("claims", [])}


def sim_lock_card(html: str) -> str:
    """The SIM-lock card of a device page (or the card alone, as an htmx answer)."""
    match = re.search(r'<section class="card" id="sim-lock".*?</section>', html, re.S)
    assert match, "no SIM-lock card"
    return match.group(0)


def look_up(client, device: Device):
    return client.post(f"/devices/{device.device_id}/sim-lock/", headers=HTMX)


# --- Claim and unclaim in SIM lock -------------------------------------------------------------------


def test_a_sim_lock_claim_sits_beside_the_zero_touch_claim_and_leaves_its_owner(portal):
    imei = make_imei(72001)
    customer, other = portal["customer"], portal["other"]
    claim(portal["client"], customer, imei)

    response = claim_sim_lock(portal["client"], other, imei, profile="004242")

    assert f"Claimed in SIM lock for {other.name}, with SIM-lock profile 4242." in response.text
    [sent] = portal["emulator"].requests_log(method="partners.devices.claim")[-1:]
    assert (sent["body"]["sectionType"], sent["body"]["simlockProfileId"]) == (SIM_LOCK, "4242")
    assert claims_by_section(emulator_device(portal["emulator"], imei)) == {
        ZERO_TOUCH: str(customer.company_id),
        SIM_LOCK: str(other.company_id),
    }
    device = Device.objects.get(imei=imei)
    assert (device.owner_id, device.section_type) == (customer.company_id, ZERO_TOUCH)
    assert {c["sectionType"]: c["ownerCompanyId"] for c in device.claims} == {
        ZERO_TOUCH: str(customer.company_id),
        SIM_LOCK: str(other.company_id),
    }
    event = device.events.first()
    assert (event.kind, event.title, event.customer_id) == (
        DeviceEvent.Kind.SIM_LOCK_CLAIMED,
        "SIM-lock claimed",
        other.company_id,
    )
    assert event.details["simlock_profile_id"] == "4242"
    assert AuditEvent.objects.filter(action="device.claim", outcome="succeeded").count() == 2

    page = portal["client"].get(f"/devices/{device.device_id}/").text
    assert other.name in sim_lock_card(page) and "SIM-lock profile: 4242" in page
    assert "Since" in sim_lock_card(page) and "Not in the portal's history" not in sim_lock_card(page)
    zero_touch_card = page.split('id="claim"', 1)[1].split('id="sim-lock"', 1)[0]
    assert customer.name in zero_touch_card and other.name not in zero_touch_card


def test_the_zero_touch_columns_stay_as_they_were_when_a_sim_lock_claim_comes_and_goes(db):
    cache_store_devices(
        [
            zerotouch.Device.from_json(
                {
                    "deviceId": "78",
                    "deviceIdentifier": {"imei": make_imei(78)},
                    "claims": [
                        {
                            "sectionType": ZERO_TOUCH,
                            "ownerCompanyId": "501",
                            "resellerId": "1000001",
                            "additionalService": "DEVICE_PROTECTION",
                            "vacationModeStartTime": "2030-01-02T03:04:00Z",
                            "vacationModeExpireTime": "2030-01-09T03:04:00Z",
                        }
                    ],
                }
            )
        ]
    )
    row = cached_rows([78])[78]
    zero_touch_columns = {name: row[name] for name in row if name not in ("claims", "changed_at")}
    now = timezone.now()

    locked = row_claimed(
        row, customer_id=502, reseller_id=1000001, section_type=SIM_LOCK, vendor_customers=set(), now=now
    )
    unlocked = row_unclaimed(locked, section_type=SIM_LOCK, vendor_customers=set(), now=now)

    for changed in (locked, unlocked):
        assert {name: changed[name] for name in zero_touch_columns} == zero_touch_columns
    assert [c["sectionType"] for c in locked["claims"]] == [ZERO_TOUCH, SIM_LOCK]
    assert unlocked["claims"] == row["claims"]


def test_a_sim_lock_claim_of_an_unclaimed_device_gives_it_no_owner(portal):
    imei = make_imei(72002)
    devices_before = portal["customer"].device_count

    claim_sim_lock(portal["client"], portal["customer"], imei)

    device = Device.objects.get(imei=imei)
    assert device.owner_id is None and not device.is_claimed
    assert claims_by_section(emulator_device(portal["emulator"], imei)) == {
        SIM_LOCK: str(portal["customer"].company_id)
    }
    page = portal["client"].get(f"/devices/{device.device_id}/").text
    assert "Not claimed for any customer." in page
    assert portal["customer"].name in sim_lock_card(page)
    # The customer's device count is of its zero-touch claims: a SIM lock adds none.
    assert Customer.objects.get(pk=portal["customer"].pk).device_count == devices_before


def test_unclaiming_the_sim_lock_leaves_the_zero_touch_claim(portal):
    imei = make_imei(72003)
    customer, other = portal["customer"], portal["other"]
    claim(portal["client"], customer, imei)
    claim_sim_lock(portal["client"], other, imei)
    device = Device.objects.get(imei=imei)
    url = f"/devices/{device.device_id}/unclaim/"

    confirm = portal["client"].get(url, {"section": SIM_LOCK}, headers=HTMX)
    response = portal["client"].post(url, {"section_type": SIM_LOCK}, headers=HTMX)

    assert f"Remove the SIM-lock claim for {other.name}?" in confirm.text
    assert 'id="sim-lock"' in confirm.text and "Zero-touch claim" not in confirm.text
    assert "SIM-lock claim removed" in response.text and "No SIM-lock claim." in response.text
    assert 'id="history" hx-swap-oob="true"' in response.text
    sent = portal["emulator"].requests_log(method="partners.devices.unclaim")
    assert [s["body"]["sectionType"] for s in sent] == [SIM_LOCK]
    assert claims_by_section(emulator_device(portal["emulator"], imei)) == {
        ZERO_TOUCH: str(customer.company_id)
    }
    device.refresh_from_db()
    assert device.owner_id == customer.company_id
    assert [c["sectionType"] for c in device.claims] == [ZERO_TOUCH]
    event = device.events.first()
    assert (event.kind, event.customer_id, event.details["previous_owner"]) == (
        DeviceEvent.Kind.SIM_LOCK_UNCLAIMED,
        other.company_id,
        other.company_id,
    )


def test_unclaiming_the_zero_touch_claim_leaves_the_sim_lock(portal):
    imei = make_imei(72004)
    customer = portal["customer"]
    claim(portal["client"], customer, imei)
    claim_sim_lock(portal["client"], customer, imei)
    device = Device.objects.get(imei=imei)

    response = portal["client"].post(f"/devices/{device.device_id}/unclaim/", {}, headers=HTMX)

    assert "Unclaimed." in response.text
    assert claims_by_section(emulator_device(portal["emulator"], imei)) == {
        SIM_LOCK: str(customer.company_id)
    }
    device.refresh_from_db()
    assert device.owner_id is None
    assert [c["sectionType"] for c in device.claims] == [SIM_LOCK]
    assert device.events.first().kind == DeviceEvent.Kind.UNCLAIMED


def test_a_sim_lock_unclaim_in_vacation_mode_unlocks_until_then(portal):
    imei = make_imei(72005)
    claim_sim_lock(portal["client"], portal["customer"], imei)
    device = Device.objects.get(imei=imei)

    response = portal["client"].post(
        f"/devices/{device.device_id}/unclaim/",
        {"section_type": SIM_LOCK, "vacation_mode_days": "3"},
        headers=HTMX,
    )

    assert "SIM lock off in vacation mode until" in response.text
    remote = emulator_device(portal["emulator"], imei)["claims"][0]
    assert remote["sectionType"] == SIM_LOCK and remote["vacationModeExpireTime"]
    assert "Vacation mode" in sim_lock_card(response.text) and "From " in sim_lock_card(response.text)
    assert "Not SIM-locked" in look_up(portal["client"], device).text


def test_a_claim_of_a_sim_lock_held_for_another_customer_is_refused_in_its_words(portal):
    imei = make_imei(72006)
    claim_sim_lock(portal["client"], portal["other"], imei)

    response = claim_sim_lock(portal["client"], portal["customer"], imei)

    assert (
        f"This device&#x27;s SIM lock is claimed by another customer, {portal['other'].name}" in response.text
    )
    failed = DeviceEvent.objects.get(outcome=DeviceEvent.Outcome.FAILED)
    assert (failed.kind, failed.title) == (DeviceEvent.Kind.SIM_LOCK_CLAIMED, "SIM-lock claim failed")


@pytest.mark.parametrize(
    ("profile", "said"),
    [
        ("", "A claim in SIM lock needs the id of your SIM-lock profile"),
        ("abc", "The SIM-lock profile id is a whole number such as 12345; &#x27;abc&#x27; is not."),
        ("-7", "The SIM-lock profile id is a whole number such as 12345"),
        ("12.5", "The SIM-lock profile id is a whole number such as 12345"),
        ("0", "The SIM-lock profile id is 1 or more; 0 names no profile."),
        ("9223372036854775808", "The SIM-lock profile id is at most 9223372036854775807"),
    ],
)
def test_a_wrong_sim_lock_profile_id_is_refused_in_words_before_any_api_call(portal, profile, said):
    portal["emulator"].clear_requests_log()

    response = claim_sim_lock(portal["client"], portal["customer"], make_imei(72007), profile=profile)

    assert said in response.text
    assert 'aria-invalid="true"' in response.text
    assert portal["emulator"].requests_log(method="partners.devices.claim") == []


def test_the_largest_profile_id_is_accepted(portal):
    imei = make_imei(72008)

    response = claim_sim_lock(portal["client"], portal["customer"], imei, profile="9223372036854775807")

    assert "with SIM-lock profile 9223372036854775807" in response.text
    assert claims_by_section(emulator_device(portal["emulator"], imei)) == {
        SIM_LOCK: str(portal["customer"].company_id)
    }


def test_a_profile_id_with_a_zero_touch_claim_is_refused(portal):
    response = claim(portal["client"], portal["customer"], make_imei(72009), simlock_profile_id="4242")

    assert "A SIM-lock profile id is only for a claim in SIM lock" in response.text
    assert portal["emulator"].requests_log(method="partners.devices.claim") == []


def test_the_device_page_offers_a_sim_lock_claim_with_the_section_chosen(portal):
    imei = make_imei(72010)
    claim(portal["client"], portal["customer"], imei)
    device = Device.objects.get(imei=imei)

    page = portal["client"].get(f"/devices/{device.device_id}/").text

    customer = portal["customer"].company_id
    form = (
        portal["client"]
        .get("/devices/claim/", {"device": device.device_id, "section": SIM_LOCK, "customer": customer})
        .text
    )

    # The device's own customer comes with the link: a SIM lock is usually claimed for it.
    link = f"/devices/claim/?device={device.device_id}&amp;section={SIM_LOCK}&amp;customer={customer}"
    assert link in sim_lock_card(page)
    assert "No SIM-lock claim." in sim_lock_card(page)
    assert re.search(rf'value="{SIM_LOCK}"[^>]*checked', form)
    assert f'value="{imei}"' in form and 'name="simlock_profile_id"' in form
    assert f'value="{portal["customer"].name}"' in form


def test_a_wrong_profile_id_is_said_even_before_a_customer_is_chosen(portal):
    data = {"device_type": "android", "imei": make_imei(72011), "customer": ""}
    response = portal["client"].post(
        "/devices/claim/", {**data, "section_type": SIM_LOCK, "simlock_profile_id": "abc"}, headers=HTMX
    )

    assert "Choose a customer" in response.text
    assert "The SIM-lock profile id is a whole number such as 12345" in response.text


def test_a_refresh_brings_a_sim_lock_claim_made_outside_the_portal_to_its_card(portal):
    imei = make_imei(72016)
    claim(portal["client"], portal["customer"], imei)
    device = Device.objects.get(imei=imei)
    status, answer = portal["emulator"].api(
        "POST",
        f"/v1/partners/{portal['emulator'].partner_id}/devices:claim",
        {
            "customerId": str(portal["other"].company_id),
            "sectionType": SIM_LOCK,
            "simlockProfileId": "77",
            "deviceIdentifier": {"imei": imei},
        },
    )
    assert status == 200, answer

    response = portal["client"].post(f"/devices/{device.device_id}/refresh/", headers=HTMX)

    oob = re.search(
        r'<section class="card" id="sim-lock" hx-swap-oob="true">.*?</section>', response.text, re.S
    )
    assert oob and portal["other"].name in oob.group(0)
    assert "Not in the portal's history" in oob.group(0)
    device.refresh_from_db()
    assert device.owner_id == portal["customer"].company_id


# --- The SIM lock state, looked up ---------------------------------------------------------------------


def test_looking_up_the_sim_lock_state_says_it_in_words(portal):
    locked, unlocked = make_imei(72011), make_imei(72012)
    claim_sim_lock(portal["client"], portal["customer"], locked)
    claim(portal["client"], portal["customer"], unlocked)

    by_us = look_up(portal["client"], Device.objects.get(imei=locked))
    not_locked = look_up(portal["client"], Device.objects.get(imei=unlocked))

    assert by_us.status_code == 200 and "<html" not in by_us.text
    assert "SIM lock state: <strong>SIM-locked by us</strong>" in by_us.text
    assert "SIM lock state: <strong>Not SIM-locked</strong>" in not_locked.text
    assert len(portal["emulator"].stats()["methods"]["partners.devices.getSimLockState"]) == 1


def test_without_htmx_the_look_up_redirects_with_the_answer(portal):
    imei = make_imei(72013)
    claim_sim_lock(portal["client"], portal["customer"], imei)
    device = Device.objects.get(imei=imei)

    response = portal["client"].post(f"/devices/{device.device_id}/sim-lock/", follow=True)

    assert response.redirect_chain[-1][0] == f"/devices/{device.device_id}/"
    assert "SIM lock state: SIM-locked by us." in response.text


def test_a_look_up_needs_a_post_with_csrf(portal):
    device = Device.objects.first()
    client = Client(enforce_csrf_checks=True)
    client.force_login(get_user_model().objects.get(username="sales"))

    assert portal["client"].get(f"/devices/{device.device_id}/sim-lock/").status_code == 405
    assert client.post(f"/devices/{device.device_id}/sim-lock/", headers=HTMX).status_code == 403


@pytest.mark.parametrize(
    ("faults", "said"),
    [
        (
            {"error_rate": 1.0, "error_codes": [500]},
            "Zero-touch had a temporary problem (the SIM lock look-up).",
        ),
        (
            {"latency_ms": 2500},
            "Zero-touch did not answer in time (the SIM lock look-up). Try again in a moment.",
        ),
        (
            {"error_rate": 1.0, "error_codes": [429]},
            "Zero-touch is busy: the portal&#x27;s request quota is used up for now (the SIM lock look-up).",
        ),
    ],
    ids=["server-error", "timeout", "quota"],
)
def test_a_look_up_that_fails_says_why_in_words(portal, settings, faults, said):
    settings.ZT_INTERACTIVE_DEADLINE = 1.0
    reset_zerotouch_client()
    imei = make_imei(72014)
    claim_sim_lock(portal["client"], portal["customer"], imei)
    device = Device.objects.get(imei=imei)
    portal["emulator"].set_faults(methods=["partners.devices.getSimLockState"], **faults)

    response = look_up(portal["client"], device)

    assert response.status_code == 200
    card = sim_lock_card(response.text)
    assert said in card and 'role="alert"' in card
    assert "SIM lock state:" not in card and "Traceback" not in response.text
    assert portal["customer"].name in card  # the claim is still shown


def test_a_device_locked_by_another_reseller_reads_so(client_as, db):
    """Another reseller's SIM-lock claim is put into the emulator's state directly: no request of
    this reseller can make one."""
    imei = make_imei(72015)
    with EmulatorThread(partner_id=1000001) as server:
        backend = server.backend
        with backend.store.write() as conn:
            device_id = backend._insert_device(
                conn, {"imei": imei, "manufacturer": "Google", "model": "Pixel 8"}
            )
            backend._add_claim(conn, device_id, SIM_LOCK, 1, None, 999_000_111)
        Device.objects.create(device_id=device_id, imei=imei, manufacturer="Google", model="Pixel 8")
        with override_settings(ZT_API_URL=server.url, ZT_PARTNER_ID="1000001"):
            reset_zerotouch_client()
            try:
                response = look_up(client_as(Role.MANAGERS), Device.objects.get(device_id=device_id))
            finally:
                reset_zerotouch_client()

    assert "SIM lock state: <strong>SIM-locked by another partner</strong>" in response.text


# --- Additional services and vacation mode, as the API reports them ---------------------------------------


def test_additional_services_and_vacation_mode_of_both_claims_are_shown(client_as, db):
    make_customer(501, "Acme Ltd")
    make_customer(502, "Globex")
    cache_store_devices(
        [
            zerotouch.Device.from_json(
                {
                    "deviceId": "77",
                    "deviceIdentifier": {"imei": make_imei(77), "manufacturer": "Google", "model": "Pixel 8"},
                    "claims": [
                        {
                            "sectionType": ZERO_TOUCH,
                            "ownerCompanyId": "501",
                            "resellerId": "1000001",
                            "additionalService": "DEVICE_PROTECTION",
                        },
                        {
                            "sectionType": SIM_LOCK,
                            "ownerCompanyId": "502",
                            "resellerId": "1000001",
                            "vacationModeStartTime": "2030-01-02T03:04:00Z",
                            "vacationModeExpireTime": "2030-01-09T03:04:00Z",
                        },
                    ],
                }
            )
        ]
    )

    with override_settings(TIME_ZONE="UTC"):
        page = client_as(Role.MANAGERS).get("/devices/77/").text

    zero_touch_card = page.split('id="claim"', 1)[1].split('id="sim-lock"', 1)[0]
    sim_card = sim_lock_card(page)
    assert "Acme Ltd" in zero_touch_card
    assert "Device Protection (Android Enterprise Essentials)" in zero_touch_card
    assert "Vacation mode" not in zero_touch_card
    assert "Globex" in sim_card and "Device Protection" not in sim_card
    assert "From 2030-01-02 03:04 until 2030-01-09 03:04" in sim_card
    assert "Not in the portal's history" in sim_card  # claimed outside the portal: no date known
    assert "Unclaim SIM lock" not in sim_card and "Look up SIM lock state" in sim_card  # a manager
