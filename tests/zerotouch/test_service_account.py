"""The client with a service-account key, end to end: google-auth gets its token from the emulator's
OAuth endpoint, renews it unseen, and a revoked key is a ``CredentialsError`` in words."""

import json
import logging

import pytest

from emulator.testing import EmulatorThread, service_account_key
from zerotouch import CredentialsError, build_client

from .factories import PARTNER_ID


@pytest.fixture
def google():
    with EmulatorThread(partner_id=PARTNER_ID, customers=2, vendors=1, devices=10, oauth=True) as server:
        yield server


@pytest.fixture
def key(google, tmp_path):
    issued = service_account_key(google.token_uri)
    google.register_key({k: issued[k] for k in ("client_email", "private_key_id", "public_key_pem")})
    path = tmp_path / "key.json"
    path.write_text(json.dumps({k: v for k, v in issued.items() if k != "public_key_pem"}))
    path.chmod(0o600)
    return issued, str(path)


@pytest.fixture
def client(google, key):
    built = build_client(api_url=google.url, partner_id=PARTNER_ID, credentials_file=key[1], deadline=10)
    yield built
    built.close()


def test_the_client_signs_in_with_the_key(client, google):
    assert len(list(client.customers_list())) == 2
    assert google.auth_settings()["tokens_issued"] == 1
    assert len(list(client.vendors_list())) == 1
    assert google.auth_settings()["tokens_issued"] == 1  # the token is reused


def test_a_token_the_api_no_longer_takes_is_renewed_and_the_call_succeeds(client, google):
    list(client.customers_list())
    google.expire_tokens()

    assert len(list(client.customers_list())) == 2
    assert google.auth_settings()["tokens_issued"] == 2
    assert google.stats()["methods"]["partners.customers.list"] == {"200": 2, "401": 1}


def test_a_revoked_key_is_a_credentials_error_in_words_that_never_shows_the_key(client, google, key, caplog):
    list(client.customers_list())
    google.revoke_key(key[0]["private_key_id"])

    with caplog.at_level(logging.DEBUG), pytest.raises(CredentialsError) as caught:
        list(client.customers_list())

    assert caught.value.reason == "invalid_grant"
    assert str(caught.value) == (
        "The service account's access token could not be refreshed: the token endpoint answered "
        "invalid_grant: Invalid JWT Signature."
    )
    secret = key[0]["private_key"].splitlines()[1]
    assert secret not in str(caught.value) and secret not in caplog.text
    assert "ya29." not in caplog.text
