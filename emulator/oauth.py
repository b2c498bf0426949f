"""Google's OAuth 2.0 token endpoint for service accounts, played when asked (``serve --oauth``).

What google-auth does with a service-account key (RFC 7523, the JWT bearer grant): it signs a JWT
with the key's private half, header ``{"alg": "RS256", "kid": <private_key_id>}``, claims
``{"iss": <client_email>, "scope": <scopes>, "aud": <token_uri>, "iat", "exp"}`` (an hour at most),
and POSTs it form-encoded to the key file's ``token_uri`` as
``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<jwt>``. Google checks the
signature against the public half it holds and the claims, and answers
``{"access_token", "expires_in", "token_type": "Bearer"}``; a refusal is HTTP 400 with
``{"error": "invalid_grant" | "invalid_scope" | ..., "error_description": "..."}``.

The emulator does the same with the keys registered with it: only their public half, as Google holds
(``/_emulator/auth/keys``, or ``serve --oauth-key FILE``). With OAuth on, the API accepts only the
access tokens it issued and that have not expired (401 otherwise), so the portal's production path
(key file, token, refresh) runs end to end against it. Without it, any bearer token is accepted, as
before: ``make run`` needs no key.

Deleting a key (``DELETE /_emulator/auth/keys/<key id>``) is what an administrator revoking it at
Google does: the next token request with it is refused as Google refuses it ("Invalid JWT
Signature.") and the tokens issued for it stop working. ``DELETE /_emulator/auth/tokens`` ends every
token now, as an expiry would, to exercise refreshing.

Independently of OAuth, ``api_enabled: false`` answers every API request as Google does for a
project that has not enabled the API: 403 PERMISSION_DENIED, reason SERVICE_DISABLED.

Not supported: user (three-legged) flows, ID tokens, domain-wide delegation (``sub``), self-signed
JWTs sent to the API in place of a token, token introspection. Signatures are checked with the
``cryptography`` package, which google-auth installs; the emulator refuses ``--oauth`` without it.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from .errors import ApiError, PermissionDenied, Unauthenticated

SCOPE = "https://www.googleapis.com/auth/androidworkprovisioning"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a secret
TOKEN_PATH = "/token"  # noqa: S105 - a path, not a secret
MAX_ASSERTION_LIFETIME = 3600  # Google refuses assertions valid for longer than an hour
CLOCK_SKEW = 300  # seconds of disagreement between clocks tolerated on iat/exp
PROJECT_NUMBER = "123456789012"
_INVALID_TOKEN_CHALLENGE = 'Bearer realm="https://accounts.google.com/", error="invalid_token"'  # noqa: S105


class TokenRefused(Exception):
    """A token request refused: ``error`` is the OAuth error code, ``description`` Google's words."""

    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def to_dict(self) -> dict:
        return {"error": self.error, "error_description": self.description}


@dataclass
class RegisteredKey:
    key_id: str
    client_email: str
    public_key: Any  # cryptography's RSAPublicKey

    def to_dict(self) -> dict:
        return {"keyId": self.key_id, "clientEmail": self.client_email}


@dataclass
class IssuedToken:
    key_id: str
    client_email: str
    scopes: tuple[str, ...]
    expires_at: float


def _crypto():
    """cryptography's pieces, imported when OAuth is used (the emulator runs without it otherwise)."""
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding, rsa
    except ImportError as exc:  # pragma: no cover - google-auth's dependency is installed here
        raise RuntimeError("the emulator's OAuth endpoint needs the 'cryptography' package") from exc
    return InvalidSignature, hashes, serialization, padding, rsa


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def public_key_of(service_account: dict) -> Any:
    """The public half of a service-account key: from ``public_key_pem``, or derived from the
    ``private_key`` of a whole key file (which the emulator then forgets)."""
    _, _, serialization, _, rsa = _crypto()
    if service_account.get("public_key_pem"):
        key = serialization.load_pem_public_key(service_account["public_key_pem"].encode())
    elif service_account.get("private_key"):
        key = serialization.load_pem_private_key(service_account["private_key"].encode(), password=None)
        key = key.public_key()
    else:
        raise ValueError("give public_key_pem, or a service-account key with private_key")
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("service-account keys are RSA keys")
    return key


class Authority:
    """The keys, the issued tokens and the project's API switch; safe to use from many threads."""

    def __init__(self, *, enabled: bool = False, token_lifetime: float = 3600.0, clock=time.time):
        if enabled:
            _crypto()
        self.enabled = enabled
        self.token_lifetime = float(token_lifetime)
        self.api_enabled = True
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, RegisteredKey] = {}
        self._tokens: dict[str, IssuedToken] = {}
        self.tokens_issued = 0
        self.tokens_refused = 0

    # -- control

    def settings(self) -> dict:
        with self._lock:
            return {
                "oauth": self.enabled,
                "api_enabled": self.api_enabled,
                "token_lifetime_seconds": self.token_lifetime,
                "tokens_issued": self.tokens_issued,
                "tokens_refused": self.tokens_refused,
                "tokens_valid": sum(1 for t in self._tokens.values() if t.expires_at > self._clock()),
            }

    def configure(self, **changes) -> dict:
        unknown = set(changes) - {"api_enabled", "token_lifetime_seconds"}
        if unknown:
            raise ValueError(f"unknown auth settings: {', '.join(sorted(unknown))}")
        with self._lock:
            if "api_enabled" in changes:
                if not isinstance(changes["api_enabled"], bool):
                    raise ValueError("api_enabled is true or false")
                self.api_enabled = changes["api_enabled"]
            if "token_lifetime_seconds" in changes:
                lifetime = float(changes["token_lifetime_seconds"])
                if not 1 <= lifetime <= 86400:
                    raise ValueError("token_lifetime_seconds must be between 1 and 86400")
                self.token_lifetime = lifetime
        return self.settings()

    def register_key(self, service_account: dict) -> RegisteredKey:
        """Hold the public half of a key: ``{"client_email", "private_key_id", "public_key_pem"}``, or
        a whole service-account key file's JSON (its private key is only used to derive the public)."""
        if not isinstance(service_account, dict):
            raise ValueError("the body must be a JSON object")
        key_id, email = service_account.get("private_key_id"), service_account.get("client_email")
        if not key_id or not email:
            raise ValueError("private_key_id and client_email are required")
        registered = RegisteredKey(str(key_id), str(email), public_key_of(service_account))
        with self._lock:
            self._keys[registered.key_id] = registered
        return registered

    def keys(self) -> list[dict]:
        with self._lock:
            return [key.to_dict() for key in self._keys.values()]

    def revoke_key(self, key_id: str) -> bool:
        """Delete a key, as revoking it at Google: its tokens stop working too."""
        with self._lock:
            found = self._keys.pop(key_id, None) is not None
            for token in [t for t, issued in self._tokens.items() if issued.key_id == key_id]:
                del self._tokens[token]
        return found

    def expire_tokens(self) -> int:
        with self._lock:
            count = len(self._tokens)
            self._tokens.clear()
        return count

    def reset(self) -> None:
        with self._lock:
            self._keys.clear()
            self._tokens.clear()
            self.api_enabled = True
            self.tokens_issued = self.tokens_refused = 0

    # -- the token endpoint

    def token(self, form: dict[str, str], *, audience: str) -> dict:
        """Answer a token request (``form`` is the decoded body; ``audience`` the URL it was posted
        to), or raise ``TokenRefused``."""
        try:
            issued = self._issue(form, audience=audience)
        except TokenRefused:
            with self._lock:
                self.tokens_refused += 1
            raise
        return issued

    def _issue(self, form: dict[str, str], *, audience: str) -> dict:
        if form.get("grant_type") != JWT_BEARER:
            raise TokenRefused("unsupported_grant_type", f"Invalid grant_type: {form.get('grant_type', '')}")
        claims, key = self._verified(form.get("assertion", ""))
        if claims.get("iss") != key.client_email:
            raise TokenRefused("invalid_grant", "Invalid grant: account not found")
        if claims.get("aud") not in (audience, GOOGLE_TOKEN_URI):
            raise TokenRefused(
                "invalid_grant", f"Invalid JWT: Failed audience check. The right audience is {audience}"
            )
        now = self._clock()
        iat, exp = claims.get("iat"), claims.get("exp")
        if (
            not isinstance(iat, int | float)
            or not isinstance(exp, int | float)
            or exp <= now
            or iat > now + CLOCK_SKEW
            or exp - iat > MAX_ASSERTION_LIFETIME + CLOCK_SKEW
        ):
            raise TokenRefused(
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
                "Check your iat and exp values in the JWT claim.",
            )
        scopes = tuple(str(claims.get("scope", "")).split())
        if SCOPE not in scopes:
            raise TokenRefused("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        token = "ya29.emulator-" + secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = IssuedToken(key.key_id, key.client_email, scopes, now + self.token_lifetime)
            self.tokens_issued += 1
            lifetime = self.token_lifetime
        return {"access_token": token, "expires_in": int(lifetime), "token_type": "Bearer"}

    def _verified(self, assertion: str) -> tuple[dict, RegisteredKey]:
        """The assertion's claims and key once its RS256 signature checks out with a held key."""
        invalid_signature, hashes, _, padding, _ = _crypto()
        parts = assertion.split(".")
        if len(parts) != 3:
            raise TokenRefused("invalid_request", "Invalid JWT: the assertion is not a signed JWT.")
        try:
            header, claims = json.loads(_b64url(parts[0])), json.loads(_b64url(parts[1]))
            signature = _b64url(parts[2])
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise TokenRefused("invalid_request", "Invalid JWT: the assertion cannot be decoded.") from None
        if not isinstance(header, dict) or not isinstance(claims, dict) or header.get("alg") != "RS256":
            raise TokenRefused("invalid_grant", "Invalid JWT: only RS256 signed assertions are accepted.")
        with self._lock:
            key = self._keys.get(str(header.get("kid", "")))
            if key is None:  # no key id: the issuer's key, as Google looks it up
                key = next((k for k in self._keys.values() if k.client_email == claims.get("iss")), None)
        if key is None:
            raise TokenRefused("invalid_grant", "Invalid JWT Signature.")
        try:
            key.public_key.verify(
                signature, f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except invalid_signature:
            raise TokenRefused("invalid_grant", "Invalid JWT Signature.") from None
        return claims, key

    # -- the API's side

    def check(self, token: str) -> ApiError | None:
        """The error an API request with bearer ``token`` gets, or None. Only with OAuth on are
        tokens checked; the project's API switch applies always."""
        if self.enabled:
            with self._lock:
                issued = self._tokens.get(token)
            if issued is None or issued.expires_at <= self._clock():
                return Unauthenticated(
                    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
                    "cookie or other valid authentication credential.",
                    reason="ACCESS_TOKEN_EXPIRED" if issued is not None else "ACCESS_TOKEN_INVALID",
                    headers={"WWW-Authenticate": _INVALID_TOKEN_CHALLENGE},
                )
        if not self.api_enabled:
            return PermissionDenied(
                "Android Device Provisioning Partner API has not been used in project "
                f"{PROJECT_NUMBER} before or it is disabled. Enable it by visiting "
                "https://console.developers.google.com/apis/api/androiddeviceprovisioning.googleapis.com"
                f"/overview?project={PROJECT_NUMBER} then retry.",
                reason="SERVICE_DISABLED",
            )
        return None
