"""Client behaviour that needs no API server: argument checks, unreachable hosts, deadlines,
credentials. Unreachable means a real closed port on this machine, not a mock."""

import json
import logging
import socket
import time

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from zerotouch import (
    SCOPE,
    Client,
    ConnectionFailed,
    CredentialsError,
    DeviceIdentifier,
    LocalTokenBucket,
    MetadataUpdate,
    PartnerClaim,
    RedisTokenBucket,
    RetryPolicy,
    build_client,
    build_session,
)

FAST_RETRIES = RetryPolicy(initial_backoff=0.01, max_backoff=0.05, max_attempts=50)


@pytest.fixture
def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def offline_client(closed_port):
    client = Client(
        build_session(),
        f"http://127.0.0.1:{closed_port}",
        "1000001",
        (0.5, 0.5),
        deadline=0.4,
        retry=FAST_RETRIES,
    )
    yield client
    client.close()


@pytest.mark.parametrize(
    ("page_size", "error"), [(0, ValueError), (101, ValueError), (True, TypeError), ("10", TypeError)]
)
def test_page_sizes_outside_the_api_limits_are_refused_before_any_request(offline_client, page_size, error):
    with pytest.raises(error):
        offline_client.devices_find_by_owner(customer_ids=["1"], page_size=page_size)
    with pytest.raises(error):
        offline_client.customers_list(page_size=page_size)


def test_batches_must_hold_between_one_and_100000_items_of_the_right_type(offline_client):
    with pytest.raises(ValueError, match="between 1 and 100,000"):
        offline_client.devices_claim_async(claims=[])
    with pytest.raises(TypeError):
        offline_client.devices_update_metadata_async(
            updates=[PartnerClaim(identifier=DeviceIdentifier(imei="490154203237518"), customer_id="1")]
        )
    update = MetadataUpdate(device_id="1", metadata={"ordernumber": "1"})
    with pytest.raises(ValueError, match="between 1 and 100,000"):
        offline_client.devices_update_metadata_async(updates=[update] * 100_001)


def test_claim_and_unclaim_need_exactly_one_target(offline_client):
    identifier = DeviceIdentifier(imei="490154203237518")
    with pytest.raises(ValueError):
        offline_client.devices_claim(identifier=identifier)
    with pytest.raises(ValueError):
        offline_client.devices_claim(
            identifier=identifier, customer_id="1", google_workspace_customer_id="C1"
        )
    with pytest.raises(ValueError):
        offline_client.devices_unclaim()
    with pytest.raises(ValueError):
        offline_client.devices_find_by_owner()


def test_refused_connection_is_retried_even_for_a_batch_submission_then_reported(offline_client, caplog):
    claims = [PartnerClaim(identifier=DeviceIdentifier(imei="490154203237518"), customer_id="1")]

    with caplog.at_level(logging.INFO, logger="zerotouch.client"):
        with pytest.raises(ConnectionFailed) as caught:
            offline_client.devices_claim_async(claims=claims)

    # Never sent, so never "outcome unknown", and retried until the deadline ran out.
    assert caught.value.request_sent is False
    assert "could not be reached" in str(caught.value)
    (record,) = [r for r in caplog.records if r.name == "zerotouch.client"]
    assert record.api_method == "partners.devices.claimAsync"
    assert record.outcome == "error"
    assert record.error_type == "ConnectionFailed"
    assert record.attempts > 1
    assert record.retries == record.attempts - 1


def test_the_deadline_stops_retrying(closed_port):
    client = Client(
        build_session(), f"http://127.0.0.1:{closed_port}", "1000001", retry=FAST_RETRIES, deadline=30.0
    )
    try:
        started = time.monotonic()
        with pytest.raises(ConnectionFailed):
            client.devices_get(device_id="1", deadline=0.3)
        elapsed = time.monotonic() - started
    finally:
        client.close()

    assert 0.25 <= elapsed < 1.0


def test_with_options_shares_the_session_and_changes_only_the_defaults(offline_client):
    interactive = offline_client.with_options(deadline=3, priority="interactive", timeout=1.5)

    assert interactive.deadline == 3.0
    assert interactive.priority == "interactive"
    assert interactive.timeout == (1.5, 1.5)
    assert interactive.limiter is offline_client.limiter
    assert offline_client.deadline == 0.4


def test_base_url_may_carry_the_version_prefix(closed_port):
    client = Client(requests.Session(), f"http://127.0.0.1:{closed_port}/v1/", 1000001)
    try:
        assert client.base_url == f"http://127.0.0.1:{closed_port}"
        assert repr(client) == f"<zerotouch.Client partner 1000001 at http://127.0.0.1:{closed_port}>"
    finally:
        client.close()


def test_static_token_is_never_rendered():
    session = build_session(token="tok-s3cret")
    try:
        assert "tok-s3cret" not in repr(session.auth)
        assert "tok-s3cret" not in repr(session)
    finally:
        session.close()


@pytest.fixture
def service_account_file(tmp_path, closed_port):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path = tmp_path / "key.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "reseller-portal",
                "private_key_id": "0123456789abcdef",
                "private_key": pem,
                "client_email": "portal@reseller-portal.iam.gserviceaccount.com",
                "client_id": "1234567890",
                # A closed local port stands in for Google's token endpoint: there is no network here.
                "token_uri": f"http://127.0.0.1:{closed_port}/token",
            }
        )
    )
    return path, pem


def test_key_file_builds_an_authorized_session_with_the_provisioning_scope(service_account_file):
    path, pem = service_account_file
    session = build_session(str(path))
    try:
        assert type(session).__name__ == "AuthorizedSession"
        assert session.credentials.scopes == [SCOPE]
        assert pem not in repr(session) and pem not in repr(session.credentials)
    finally:
        session.close()


def test_failed_token_refresh_is_a_connection_failure_that_never_shows_the_key(
    service_account_file, closed_port, caplog
):
    path, pem = service_account_file
    client = build_client(
        api_url=f"http://127.0.0.1:{closed_port}",
        partner_id="1000001",
        credentials_file=str(path),
        deadline=0.5,
    )
    try:
        with caplog.at_level(logging.DEBUG), pytest.raises(ConnectionFailed) as caught:
            client.devices_get(device_id="1")
    finally:
        client.close()

    secret_line = pem.splitlines()[1]
    assert secret_line not in str(caught.value)
    assert secret_line not in caplog.text


def test_unreadable_key_file_is_reported_without_its_content(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"type": "service_account", "private_key": "PRIVATE-MATERIAL"}')

    with pytest.raises(CredentialsError) as caught:
        build_session(str(path))

    assert "PRIVATE-MATERIAL" not in str(caught.value)
    assert str(path) in str(caught.value)


def test_build_client_takes_plain_settings_values():
    client = build_client(
        api_url="http://127.0.0.1:8800",
        partner_id="1000001",
        credentials_file="",
        connect_timeout=3.05,
        read_timeout=20.0,
        quota_requests=1000,
        quota_period=100.0,
    )
    shared = build_client(
        api_url="http://127.0.0.1:8800", partner_id="1000001", redis_url="redis://127.0.0.1:6379/0"
    )
    try:
        assert client.timeout == (3.05, 20.0)
        assert isinstance(client.limiter, LocalTokenBucket)
        assert client.limiter.quota.requests == 1000
        assert isinstance(shared.limiter, RedisTokenBucket)
    finally:
        client.close()
        shared.close()
