"""No key, token or password in the repository, and none in the logs a run writes.

The scan reads every file git tracks. A hit that is not a secret (a test's throw-away value, a
documented demo password) is allowed only by path and exact text in ALLOWED, with the reason."""

import logging
import re
import subprocess
from pathlib import Path

import pytest
from django.test import Client

from core.roles import Role
from tests.conftest import make_user

ROOT = Path(__file__).resolve().parents[2]

PATTERNS = {
    "a PEM private key": re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"),
    "a service-account key's private_key": re.compile(r'"private_key"\s*:\s*"-----BEGIN'),
    "an AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "an AWS secret key": re.compile(r"aws_secret_access_key\s*[=:]\s*['\"]?[A-Za-z0-9/+]{40}"),
    "a Google API key": re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b"),
    "a Google OAuth access token": re.compile(r"\bya29\.[0-9A-Za-z_\-]{20,}"),
    "a Google OAuth client secret": re.compile(r"\bGOCSPX-[0-9A-Za-z_\-]{20,}"),
    "a GitHub token": re.compile(r"\bgh[pousr]_[0-9A-Za-z]{36,}\b"),
    "a Slack token": re.compile(r"\bxox[abprs]-[0-9A-Za-z-]{10,}"),
    "a signed JWT": re.compile(r"\beyJ[0-9A-Za-z_\-]{10,}\.eyJ[0-9A-Za-z_\-]{10,}\.[0-9A-Za-z_\-]{10,}"),
    "a password in a URL": re.compile(r"\b[a-z][a-z0-9+]*://[^\s/:@'\"]+:([^\s/@'\"$]{3,})@"),
    "a password literal": re.compile(
        r"""(?i)\b[a-z_]*(?:password|passwd|secret_key|api_key|access_token)\s*[=:]\s*["']([^"'\s]{4,})["']"""
    ),
}

# (path, the exact text that matched) -> why it is not a secret.
ALLOWED = {
    ("bench/management/commands/demo_setup.py", 'DEMO_PASSWORD = "demo"'): (
        "the documented demo login, created only with DEBUG on"
    ),
    ("portal/settings.py", 'SECRET_KEY = "django-insecure-development-key-only-for-debug"'): (
        "used only with DEBUG on; production refuses to start without SECRET_KEY"
    ),
}
# Tests create users, keys and tokens of their own to prove they are kept secret: every value the
# password-literal and URL patterns find under tests/ is a throw-away, as long as it is no real key
# shape (the other patterns still apply there).
THROWAWAY_PATTERNS_UNDER_TESTS = {"a password literal", "a password in a URL"}


def tracked_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60
    ).stdout
    return [ROOT / name for name in listed.decode().split("\0") if name]


def findings(path: Path, text: str) -> list[str]:
    relative = path.relative_to(ROOT).as_posix()
    found = []
    for kind, pattern in PATTERNS.items():
        if relative.startswith("tests/") and kind in THROWAWAY_PATTERNS_UNDER_TESTS:
            continue
        for match in pattern.finditer(text):
            if (relative, match.group(0)) in ALLOWED:
                continue
            line = text.count("\n", 0, match.start()) + 1
            found.append(f"{relative}:{line}: {kind}: {match.group(0)[:60]}")
    return found


def test_no_tracked_file_holds_a_key_token_or_password():
    found = []
    for path in tracked_files():
        if not path.is_file():  # deleted in the working tree, not yet committed
            continue
        found += findings(path, path.read_bytes().decode("utf-8", "replace"))

    assert found == []


def test_every_allowed_value_is_still_there():
    """An allow-list entry whose text is gone is a stale exception to remove."""
    for path, text in ALLOWED:
        assert text in (ROOT / path).read_text(), (path, text)


@pytest.mark.parametrize(
    "leak",
    [
        "-----BEGIN PRIV\u200bATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----",
        '{"type": "service_account", "private_key": "-----\u200bBEGIN PRIVATE KEY-----\\nMIIE"}',
        "AWS_ACCESS_KEY_ID=AKIA\u200bIOSFODNN7EXAMPLE",
        "key = 'AIza\u200bSyA1234567890abcdefghijklmnopqrstuv'",
        "Authorization: Bearer ya29\u200b.a0AfH6SMBx1234567890abcdefghij",
        "DATABASE_URL=postgres://portal:hunter2hunter2@db:5432/portal",
        'EMAIL_HOST_PASSWORD = "correct-horse-battery"',
        "token ghp\u200b_abcdefghijklmnopqrstuvwxyz0123456789",
    ],
)
def test_the_scan_finds_each_kind_of_secret(leak):
    """The scan above can fail: a file holding any of these would be reported. (Each sample is cut by
    a zero-width space, taken out here, so that this file itself holds no key shape.)"""
    assert findings(ROOT / "portal" / "example.py", leak.replace("\u200b", ""))


# --- Logs ------------------------------------------------------------------------------------------

SECRET_KEY = "log-scan-secret-key-" + "k7Q2x9" * 8
METRICS_TOKEN = "log-scan-metrics-token-5b1e0c7d9a"
PASSWORD = "log-scan-Password-8f3a1c"
WRONG_PASSWORD = "log-scan-Wrong-Password-2d4e6f"
ZT_TOKEN = "log-scan-bearer-token-91ab"


@pytest.fixture
def secrets_in_use(settings, emulator):
    settings.SECRET_KEY = SECRET_KEY
    settings.METRICS_ENABLED = True
    settings.METRICS_TOKEN = METRICS_TOKEN
    return emulator


def test_a_run_logs_none_of_the_secrets_it_uses(secrets_in_use, caplog, db):
    """Sign in with a wrong and a right password, scrape the metrics with a wrong and a right token,
    call the API (the emulator takes any bearer token), and read everything logged at any level."""
    from zerotouch import build_client

    make_user(Role.SALES, username="logscan", password=PASSWORD)
    browser = Client()
    with caplog.at_level(logging.DEBUG):
        browser.post("/accounts/login/", {"username": "logscan", "password": WRONG_PASSWORD})
        browser.post("/accounts/login/", {"username": "logscan", "password": PASSWORD})
        session_cookie = browser.cookies["sessionid"].value
        browser.get("/devices/", {"q": "R58"})
        Client().get("/metrics", headers={"Authorization": "Bearer not-the-token"})
        Client().get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        api = build_client(
            api_url=secrets_in_use.url, partner_id=str(secrets_in_use.partner_id), token=ZT_TOKEN
        )
        list(api.customers_list())

    logged = caplog.text + "\n".join(str(record.__dict__) for record in caplog.records)
    assert "Failed sign-in as 'logscan'" in logged, "the flow ran and its lines were captured"
    for secret in (SECRET_KEY, METRICS_TOKEN, PASSWORD, WRONG_PASSWORD, ZT_TOKEN, session_cookie):
        assert secret not in logged
