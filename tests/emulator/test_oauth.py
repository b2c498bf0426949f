"""The emulator as Google's OAuth token endpoint (``serve --oauth``): assertions checked as Google
checks them, tokens issued, only its own tokens accepted; keys revoked; the API switched off."""

import base64
import json
import time
import urllib.parse
import urllib.request

import pytest
from google.auth import crypt, jwt

from emulator.oauth import JWT_BEARER, SCOPE
from emulator.testing import EmulatorProcess, EmulatorThread, service_account_key

PARTNER = 1234567


@pytest.fixture
def google():
    with EmulatorThread(partner_id=PARTNER, customers=2, vendors=0, devices=5, oauth=True) as server:
        yield server


@pytest.fixture
def key(google):
    issued = service_account_key(google.token_uri)
    google.register_key({k: issued[k] for k in ("client_email", "private_key_id", "public_key_pem")})
    return issued


def assertion(key: dict, audience: str, **changes) -> str:
    """A JWT signed with the key, as google-auth builds one; ``changes`` override its claims."""
    now = int(time.time())
    claims = {"iss": key["client_email"], "scope": SCOPE, "aud": audience, "iat": now, "exp": now + 3600}
    claims.update(changes)
    signer = crypt.RSASigner.from_service_account_info(key)
    return jwt.encode(signer, {k: v for k, v in claims.items() if v is not None}).decode()


def token_request(google, body: dict) -> tuple[int, dict]:
    data = urllib.parse.urlencode(body).encode()
    request = urllib.request.Request(google.token_uri, data=data, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the emulator
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def customers(google, token: str) -> tuple[int, dict]:
    return google.api("GET", f"/v1/partners/{PARTNER}/customers", token=token)


def test_a_signed_assertion_gets_a_token_the_api_accepts(google, key):
    status, answer = token_request(
        google, {"grant_type": JWT_BEARER, "assertion": assertion(key, google.token_uri)}
    )

    assert status == 200, answer
    assert answer["token_type"] == "Bearer" and answer["expires_in"] == 3600
    assert customers(google, answer["access_token"])[0] == 200


def test_only_the_tokens_it_issued_are_accepted(google, key):
    status, body = customers(google, "anything-else")

    assert status == 401
    assert body["error"]["status"] == "UNAUTHENTICATED"
    assert customers(google, "")[0] == 401


@pytest.mark.parametrize(
    ("changes", "error", "description"),
    [
        ({"aud": "https://elsewhere.example/token"}, "invalid_grant", "Invalid JWT: Failed audience check."),
        ({"exp": int(time.time()) - 10}, "invalid_grant", "Invalid JWT: Token must be a short-lived token"),
        (
            {"exp": int(time.time()) + 3 * 3600},
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token",
        ),
        ({"scope": "https://www.googleapis.com/auth/cloud-platform"}, "invalid_scope", "Invalid OAuth scope"),
        ({"iss": "someone-else@project.iam.gserviceaccount.com"}, "invalid_grant", "Invalid grant: account"),
    ],
)
def test_claims_are_checked(google, key, changes, error, description):
    status, answer = token_request(
        google, {"grant_type": JWT_BEARER, "assertion": assertion(key, google.token_uri, **changes)}
    )

    assert status == 400
    assert answer["error"] == error
    assert answer["error_description"].startswith(description)


def test_a_signature_by_another_key_is_refused(google, key):
    impostor = service_account_key(google.token_uri, key_id=key["private_key_id"])  # same id, other key

    status, answer = token_request(
        google, {"grant_type": JWT_BEARER, "assertion": assertion(impostor, google.token_uri)}
    )

    assert (status, answer) == (
        400,
        {"error": "invalid_grant", "error_description": "Invalid JWT Signature."},
    )


def test_a_tampered_assertion_is_refused(google, key):
    header, payload, signature = assertion(key, google.token_uri).split(".")
    forged_claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged_claims["exp"] += 60
    forged = base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).decode().rstrip("=")

    status, answer = token_request(
        google, {"grant_type": JWT_BEARER, "assertion": f"{header}.{forged}.{signature}"}
    )

    assert status == 400 and answer["error_description"] == "Invalid JWT Signature."


def test_other_grants_and_garbage_are_refused(google, key):
    assert token_request(google, {"grant_type": "client_credentials"})[1]["error"] == "unsupported_grant_type"
    assert token_request(google, {"grant_type": JWT_BEARER, "assertion": "not-a-jwt"})[1]["error"] == (
        "invalid_request"
    )


def test_a_revoked_key_gets_no_token_and_its_tokens_stop_working(google, key):
    token = token_request(google, {"grant_type": JWT_BEARER, "assertion": assertion(key, google.token_uri)})[
        1
    ]

    google.revoke_key(key["private_key_id"])

    assert customers(google, token["access_token"])[0] == 401
    status, answer = token_request(
        google, {"grant_type": JWT_BEARER, "assertion": assertion(key, google.token_uri)}
    )
    assert (status, answer["error_description"]) == (400, "Invalid JWT Signature.")
    assert google.auth_settings()["tokens_refused"] == 1


def test_tokens_expire(google, key):
    google.auth_settings(token_lifetime_seconds=1)
    token = token_request(google, {"grant_type": JWT_BEARER, "assertion": assertion(key, google.token_uri)})[
        1
    ]
    assert customers(google, token["access_token"])[0] == 200

    time.sleep(1.1)

    status, body = customers(google, token["access_token"])
    assert status == 401 and body["error"]["details"][0]["reason"] == "ACCESS_TOKEN_EXPIRED"


def test_an_api_not_enabled_in_the_project_is_refused_as_google_does(google, key):
    token = token_request(google, {"grant_type": JWT_BEARER, "assertion": assertion(key, google.token_uri)})[
        1
    ]
    google.auth_settings(api_enabled=False)

    status, body = customers(google, token["access_token"])

    assert status == 403
    assert body["error"]["status"] == "PERMISSION_DENIED"
    assert body["error"]["details"][0]["reason"] == "SERVICE_DISABLED"
    assert "has not been used in project" in body["error"]["message"]


def test_the_whole_key_file_may_be_registered_and_only_its_public_half_is_kept(google):
    issued = service_account_key(google.token_uri)

    google.register_key({k: v for k, v in issued.items() if k != "public_key_pem"})

    assert google._control("GET", "auth/keys") == {
        "keys": [{"keyId": issued["private_key_id"], "clientEmail": issued["client_email"]}]
    }
    status, _ = token_request(
        google, {"grant_type": JWT_BEARER, "assertion": assertion(issued, google.token_uri)}
    )
    assert status == 200


def test_without_oauth_any_token_is_accepted_and_there_is_no_token_endpoint():
    with EmulatorThread(partner_id=PARTNER, customers=1, devices=1) as plain:
        assert plain.api("GET", f"/v1/partners/{PARTNER}/customers", token="whatever")[0] == 200
        assert plain.request("POST", "/token", {})[0] == 404


def test_serve_takes_oauth_and_keys_from_the_command_line(tmp_path):
    with EmulatorProcess(partner_id=PARTNER, customers=1, devices=1) as probe:
        token_uri = probe.url + "/token"  # any URL: audience is checked against the URL posted to
    issued = service_account_key(token_uri)
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(issued))

    with EmulatorProcess(
        partner_id=PARTNER, customers=1, devices=1, oauth=True, serve_args=["--oauth-key", key_file]
    ) as google:
        status, answer = token_request(
            google, {"grant_type": JWT_BEARER, "assertion": assertion(issued, google.token_uri)}
        )
        assert status == 200, (answer, google.log_text())
        assert customers(google, answer["access_token"])[0] == 200
        assert customers(google, "anything")[0] == 401
        assert "OAuth token endpoint" in google.log_text()
