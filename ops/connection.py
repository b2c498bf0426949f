"""The "Test connection" button of the API health page: one cheap read with the configured key and
partner id, and what came of it in words an administrator can act on.

The read is ``partners.customers.list`` with a page size of 1, in the interactive lane: it needs the
key, the token, the API enabled in the key's project and the partner id to be the reseller's, and
costs one request of the quota. Before it, the key file itself is checked, because a file the portal
cannot read, or that every user of the machine can, is better said plainly than as a token error.
"""

import json
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

import zerotouch
from core.api import Lane, zerotouch_client

KEY_FIELDS = ("type", "client_email", "private_key", "private_key_id", "token_uri")


@dataclass
class ConnectionCheck:
    """The result: ``ok`` when the read succeeded; ``headline`` says what happened in one sentence,
    ``notes`` add what else an administrator should know (a warning, how to fix)."""

    ok: bool
    headline: str
    notes: list[str] = field(default_factory=list)
    round_trip_ms: float | None = None


@dataclass(frozen=True)
class KeyFile:
    problem: str = ""  # the key cannot be used: why
    warning: str = ""  # it can, but should not stay as it is
    client_email: str = ""


def key_file_check(path: str) -> KeyFile:
    """What is wrong with the service-account key file, if anything. Never returns its content."""
    where = f"The key file {path} (ZT_CREDENTIALS_FILE)"
    key = Path(path)
    try:
        mode = key.stat().st_mode
        text = key.read_text()
    except FileNotFoundError:
        return KeyFile(problem=f"{where} does not exist.")
    except PermissionError:
        return KeyFile(problem=f"{where} cannot be read by the portal's user: give that user read access.")
    except IsADirectoryError:
        return KeyFile(problem=f"{where} is a directory, not the key's JSON file.")
    except (OSError, UnicodeDecodeError) as exc:
        return KeyFile(problem=f"{where} cannot be read ({type(exc).__name__}).")
    try:
        content = json.loads(text)
    except ValueError:
        return KeyFile(problem=f"{where} is not JSON: use the JSON key file of the service account.")
    if not isinstance(content, dict) or content.get("type") != "service_account":
        return KeyFile(problem=f'{where} is not a service-account key (its "type" is not service_account).')
    missing = [name for name in KEY_FIELDS if not content.get(name)]
    if missing:
        return KeyFile(
            problem=f"{where} is not a complete service-account key: it has no {', '.join(missing)}."
        )
    warning = ""
    if mode & stat.S_IROTH:
        warning = (
            f"{where} can be read by every user of this machine (permissions {stat.filemode(mode)}): "
            f"anyone who reads it can act as the reseller. Make it readable by the portal's user only "
            f"(chmod 600 {path})."
        )
    return KeyFile(warning=warning, client_email=str(content["client_email"]))


def connection_test() -> ConnectionCheck:
    """Check the key file, then read one customer with the portal's client, and say what happened."""
    path = settings.ZT_CREDENTIALS_FILE
    notes: list[str] = []
    if path:
        key = key_file_check(path)
        if key.problem:
            return ConnectionCheck(ok=False, headline=key.problem)
        if key.warning:
            notes.append(key.warning)
        signed_in_as = f"signed in as {key.client_email}"
    else:
        notes.append(
            "No service-account key is configured (ZT_CREDENTIALS_FILE is empty): the portal sends a fixed "
            "token, which only the emulator accepts."
        )
        signed_in_as = "with the emulator's fixed token"
    started = time.perf_counter()
    try:
        client = zerotouch_client(lane=Lane.INTERACTIVE)
        next(iter(client.customers_list(page_size=1)), None)
    except zerotouch.ZeroTouchError as exc:
        return ConnectionCheck(ok=False, headline=failure_sentence(exc, has_key=bool(path)), notes=notes)
    elapsed = round((time.perf_counter() - started) * 1000, 1)
    headline = (
        f"OK: partner {settings.ZT_PARTNER_ID} at {settings.ZT_API_URL} answered in {elapsed:g} ms, "
        f"{signed_in_as}."
    )
    return ConnectionCheck(ok=True, headline=headline, notes=notes, round_trip_ms=elapsed)


def failure_sentence(exc: zerotouch.ZeroTouchError, *, has_key: bool) -> str:
    """What a failed test read means, in words, with what to do about it."""
    partner, url = settings.ZT_PARTNER_ID, settings.ZT_API_URL
    match exc:
        case zerotouch.CredentialsError(reason="invalid_grant"):
            return (
                f"Google refused the service-account key ({exc}). The key was deleted or revoked in the "
                "Google Cloud console, or the file is not the key Google holds: create a new key for the "
                "service account and point ZT_CREDENTIALS_FILE at it."
            )
        case zerotouch.CredentialsError(reason="invalid_scope"):
            return f"Google would not give the key a token for zero-touch's scope ({exc})."
        case zerotouch.CredentialsError():
            return f"The service-account key could not be used: {exc}"
        case zerotouch.Unauthenticated() if not has_key:
            return (
                f"The API at {url} wants a service-account key and none is configured: set "
                "ZT_CREDENTIALS_FILE to the service account's JSON key file."
            )
        case zerotouch.Unauthenticated():
            return f"The API at {url} did not accept the service account's access token (HTTP 401): {exc}"
        case zerotouch.PermissionDenied(reason="SERVICE_DISABLED"):
            return (
                "The Android Device Provisioning Partner API is not enabled in the service account's Google "
                "Cloud project: enable it under APIs & Services, wait a few minutes, and test again."
            )
        case zerotouch.PermissionDenied(reason="PARTNER_NOT_YOURS"):
            return (
                f"Wrong partner id: partner {partner} is not the one this service account acts for. Check "
                "ZT_PARTNER_ID against the reseller id shown in the zero-touch portal."
            )
        case zerotouch.PermissionDenied():
            return (
                f"Permission denied for partner {partner}: the service account is not linked to the "
                "reseller's zero-touch account, or the partner id is not the reseller's. Check "
                f"ZT_PARTNER_ID, and the service account in the zero-touch portal. ({exc})"
            )
        case zerotouch.TransportError():
            return f"The API at {url} could not be reached: {exc}"
        case zerotouch.RateLimited():
            return f"The quota is used up right now, so the test read was not sent: {exc}"
    return f"The API answered with an error: {exc}"
