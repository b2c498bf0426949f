"""The production credentials path through the portal, and "Test connection" in words.

The emulator plays Google's token endpoint (``oauth=True``): the portal gets its access token with a
service-account key through google-auth, as against Google, and the API takes only tokens it issued.
"""

import json
import logging
import os
import socket

import pytest
from django.urls import reverse

from core.api import reset_zerotouch_client
from core.roles import Role
from devices.models import Device
from devices.sync import sync_full
from emulator.testing import EmulatorThread, service_account_key
from ops.connection import connection_test


@pytest.fixture
def google(settings):
    """An emulator that wants OAuth tokens, the portal pointed at it without a key yet."""
    with EmulatorThread(
        partner_id=1000001, customers=2, vendors=1, devices=20, random_seed=2, oauth=True
    ) as server:
        settings.ZT_API_URL = server.url
        settings.ZT_PARTNER_ID = str(server.partner_id)
        settings.ZT_CREDENTIALS_FILE = ""
        reset_zerotouch_client()
        yield server
        reset_zerotouch_client()


def write_key(path, key: dict, mode: int = 0o600) -> str:
    path.write_text(json.dumps({k: v for k, v in key.items() if k != "public_key_pem"}))
    path.chmod(mode)
    return str(path)


@pytest.fixture
def key(google, settings, tmp_path):
    """A service-account key Google (the emulator) holds, configured as the portal's key file."""
    issued = service_account_key(google.token_uri)
    google.register_key({name: issued[name] for name in ("client_email", "private_key_id", "public_key_pem")})
    settings.ZT_CREDENTIALS_FILE = write_key(tmp_path / "key.json", issued)
    reset_zerotouch_client()
    return issued


def test_the_portal_signs_in_with_its_key_and_syncs(key, google, db):
    run = sync_full()

    assert run.status == "succeeded"
    assert Device.objects.count() == 20
    assert google.auth_settings()["tokens_issued"] == 1


def test_an_expired_token_is_renewed_without_anyone_noticing(key, google, db):
    sync_full()
    assert google.expire_tokens() == 1  # as if its hour had passed: the API now answers 401

    run = sync_full()

    assert run.status == "succeeded" and not run.errors
    assert google.auth_settings()["tokens_issued"] == 2


def test_a_token_about_to_expire_is_renewed_before_it_is_used(key, google, db):
    import time

    # google-auth renews a token that has less than 3 min 45 s left before using it.
    google.auth_settings(token_lifetime_seconds=226)
    sync_full()
    time.sleep(1.2)

    run = sync_full()

    assert run.status == "succeeded"
    assert google.auth_settings()["tokens_issued"] == 2
    assert google.stats()["methods"].get("oauth2.token") == {"200": 2}
    assert "401" not in json.dumps(google.stats()["methods"].get("partners.customers.list", {}))


# --- Test connection, in words ----------------------------------------------------------------------


def test_ok_with_the_key_and_the_round_trip_time(key, db):
    result = connection_test()

    assert result.ok, result
    assert result.headline.startswith("OK: partner 1000001 at http://127.0.0.1:")
    assert f"signed in as {key['client_email']}" in result.headline
    assert result.round_trip_ms is not None and result.round_trip_ms > 0
    assert result.notes == []


def test_ok_against_the_emulator_without_a_key_says_no_key_is_configured(emulator, db):
    result = connection_test()

    assert result.ok
    assert "with the emulator's fixed token" in result.headline
    assert result.notes == [
        "No service-account key is configured (ZT_CREDENTIALS_FILE is empty): the portal sends a fixed "
        "token, which only the emulator accepts."
    ]


def test_no_key_against_an_api_that_wants_one(google, db):
    result = connection_test()

    assert not result.ok
    assert result.headline == (
        f"The API at {google.url} wants a service-account key and none is configured: set "
        "ZT_CREDENTIALS_FILE to the service account's JSON key file."
    )


def test_a_key_file_readable_by_everyone_works_but_is_warned_about(key, settings, tmp_path):
    settings.ZT_CREDENTIALS_FILE = write_key(tmp_path / "open.json", key, mode=0o644)

    result = connection_test()

    assert result.ok
    path = settings.ZT_CREDENTIALS_FILE
    assert result.notes == [
        f"The key file {path} (ZT_CREDENTIALS_FILE) can be read by every user of this machine (permissions "
        "-rw-r--r--): anyone who reads it can act as the reseller. Make it readable by the portal's user "
        f"only (chmod 600 {path})."
    ]


@pytest.mark.parametrize(
    ("content", "sentence"),
    [
        (None, "does not exist."),
        ("not json {", "is not JSON: use the JSON key file of the service account."),
        ('{"type": "authorized_user"}', 'is not a service-account key (its "type" is not service_account).'),
        (
            '{"type": "service_account", "client_email": "a@b"}',
            "has no private_key, private_key_id, token_uri.",
        ),
    ],
)
def test_a_key_file_that_cannot_be_used_is_named_and_not_shown(google, settings, tmp_path, content, sentence):
    path = tmp_path / "key.json"
    if content is not None:
        path.write_text(content)
    settings.ZT_CREDENTIALS_FILE = str(path)

    result = connection_test()

    assert not result.ok
    assert result.headline.startswith(f"The key file {path} (ZT_CREDENTIALS_FILE) ")
    assert result.headline.endswith(sentence)
    assert google.auth_settings()["tokens_issued"] == 0


def test_a_key_directory_is_not_a_key_file(google, settings, tmp_path):
    settings.ZT_CREDENTIALS_FILE = str(tmp_path)

    assert connection_test().headline.endswith("is a directory, not the key's JSON file.")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file whatever its permissions")
def test_a_key_file_the_portal_may_not_read(key, settings, tmp_path):
    settings.ZT_CREDENTIALS_FILE = write_key(tmp_path / "locked.json", key, mode=0o000)

    assert "cannot be read by the portal's user" in connection_test().headline


def test_a_revoked_key_is_reported_in_words_without_the_key(key, google, db, caplog):
    connection_test()  # the portal has a token
    google.revoke_key(key["private_key_id"])

    with caplog.at_level(logging.DEBUG):
        result = connection_test()

    assert not result.ok
    assert result.headline == (
        "Google refused the service-account key (The service account's access token could not be "
        "refreshed: the token endpoint answered invalid_grant: Invalid JWT Signature.). The key was deleted "
        "or revoked in the Google Cloud console, or the file is not the key Google holds: create a new key "
        "for the service account and point ZT_CREDENTIALS_FILE at it."
    )
    secret = key["private_key"].splitlines()[1]
    assert secret not in result.headline and secret not in caplog.text


def test_a_key_google_never_held_is_refused_the_same_way(google, settings, tmp_path, db):
    stranger = service_account_key(google.token_uri)  # never registered
    settings.ZT_CREDENTIALS_FILE = write_key(tmp_path / "stranger.json", stranger)

    result = connection_test()

    assert result.headline.startswith("Google refused the service-account key")


def test_wrong_partner_id(key, settings):
    settings.ZT_PARTNER_ID = "1000002"
    reset_zerotouch_client()

    result = connection_test()

    assert result.headline == (
        "Wrong partner id: partner 1000002 is not the one this service account acts for. Check ZT_PARTNER_ID "
        "against the reseller id shown in the zero-touch portal."
    )


def test_api_not_enabled(key, google):
    google.auth_settings(api_enabled=False)

    result = connection_test()

    assert result.headline.startswith(
        "The Android Device Provisioning Partner API is not enabled in the service account's Google Cloud"
    )


def test_permission_denied(emulator):
    emulator.set_faults(error_rate=1.0, error_codes=[403])

    result = connection_test()

    assert result.headline.startswith(
        "Permission denied for partner 1000001: the service account is not linked"
    )


def test_an_api_that_cannot_be_reached(settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.ZT_API_URL = f"http://127.0.0.1:{port}"
    reset_zerotouch_client()

    result = connection_test()

    assert result.headline.startswith(f"The API at http://127.0.0.1:{port} could not be reached:")
    reset_zerotouch_client()


# --- The button ----------------------------------------------------------------------------------


def test_the_button_answers_htmx_with_the_result_in_its_section(key, client_as):
    response = client_as(Role.ADMINS).post(reverse("ops_connection"), headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert response.text.lstrip().startswith('<section class="card" id="ops-connection"')
    assert "OK: partner 1000001" in response.text


def test_the_button_without_htmx_comes_back_to_the_page_with_the_result(
    google, client_as, settings, tmp_path
):
    settings.ZT_CREDENTIALS_FILE = str(tmp_path / "missing.json")

    response = client_as(Role.ADMINS).post(reverse("ops_connection"), follow=True)

    assert response.redirect_chain[-1][0] == reverse("ops")
    assert f"The key file {tmp_path / 'missing.json'} (ZT_CREDENTIALS_FILE) does not exist." in response.text
