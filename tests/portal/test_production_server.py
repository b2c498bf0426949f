"""The production shape over plain HTTP: gunicorn with DEBUG off, signed in to with a real HTTP client.

gunicorn runs the production settings (``portal.settings``, not the test settings) in its own process,
on the test database (committed rows: ``transactional_db``) and the test run's broker and cache.
"""

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from http.cookiejar import Cookie
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from bench.subprocesses import database_url, free_port
from core.roles import Role
from tests.conftest import make_user

ROOT = Path(__file__).resolve().parents[2]
# Variables of the calling environment that the production settings must not see: each test says.
TEST_ONLY_VARIABLES = {
    "DJANGO_SETTINGS_MODULE",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "DEBUG",
    "ALLOWED_HOSTS",
    "SECURE_COOKIES",
    "SECURE_SSL_REDIRECT",
    "TRUST_X_FORWARDED_PROTO",
}


@pytest.fixture(scope="module")
def static_root(tmp_path_factory) -> Path:
    """Production serves collected, hashed static files (WhiteNoise's manifest): collect them once."""
    root = tmp_path_factory.mktemp("static")
    env = {
        **{k: v for k, v in os.environ.items() if k not in TEST_ONLY_VARIABLES},
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "SECRET_KEY": "collectstatic-only",
        "STATIC_ROOT": str(root),
        "VAR_DIR": str(tmp_path_factory.mktemp("var")),
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=180,
    )
    return root


@pytest.fixture
def production_server(transactional_db, static_root, tmp_path) -> Iterator[Callable[..., str]]:
    """``production_server(SECURE_COOKIES="0")`` starts gunicorn with those variables; returns its URL."""
    started: list[tuple[subprocess.Popen, Path]] = []

    def start(**variables: str) -> str:
        port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if k not in TEST_ONLY_VARIABLES},
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DEBUG": "0",
            "SECRET_KEY": "a-production-shape-test-secret-key-that-is-long-enough-0123456789",
            "ALLOWED_HOSTS": "127.0.0.1",
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "STATIC_ROOT": str(static_root),
            "VAR_DIR": str(tmp_path / "var"),
            "LOG_LEVEL": "WARNING",
            **variables,
        }
        log = tmp_path / f"gunicorn-{port}.log"
        with log.open("w") as output:
            server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "portal.wsgi",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    "1",
                ],
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        started.append((server, log))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert server.poll() is None, log.read_text()
            try:  # a loaded machine may take seconds over gunicorn's first answer: wait for it
                if requests.get(f"{url}/healthz", timeout=10).status_code == 200:
                    return url
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(0.2)
        pytest.fail(f"gunicorn did not answer within 60 s:\n{log.read_text()}")

    yield start
    for server, log in started:
        server.terminate()
        server.wait(timeout=30)
        assert "Traceback" not in log.read_text(), log.read_text()


def make_production_user(username: str):
    """A user whose password hash the production settings can check: the test settings hash with MD5,
    which production does not accept. (Few PBKDF2 iterations: the server upgrades the hash itself.)"""
    user = make_user(Role.SALES, username=username)
    hasher = PBKDF2PasswordHasher()
    user.password = hasher.encode("demo", hasher.salt(), iterations=1000)
    user.save(update_fields=["password"])
    return user


def cookie(response: requests.Response, name: str) -> Cookie:
    return next(c for c in response.cookies if c.name == name)


def sign_in_form(session: requests.Session, url: str) -> dict[str, str]:
    page = session.get(f"{url}/accounts/login/", timeout=10)
    assert page.status_code == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, "the sign-in page carries a CSRF token"
    return {"csrfmiddlewaretoken": token.group(1), "next": "/"}


def test_signing_in_over_plain_http_when_secure_cookies_are_turned_off(production_server):
    make_production_user("sales")
    url = production_server(SECURE_COOKIES="0", SECURE_SSL_REDIRECT="0")
    session = requests.Session()

    form = sign_in_form(session, url)
    home = session.post(
        f"{url}/accounts/login/", {**form, "username": "sales", "password": "demo"}, timeout=10
    )

    assert home.status_code == 200
    assert home.url == f"{url}/"
    assert "Sign out" in home.text
    assert not cookie(home.history[0], "sessionid").secure
    assert "Strict-Transport-Security" not in home.headers


def test_by_default_production_cookies_are_secure(production_server):
    make_production_user("sales")
    url = production_server(SECURE_SSL_REDIRECT="0")  # left on, plain HTTP would only be redirected
    session = requests.Session()

    page = session.get(f"{url}/accounts/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    # A browser would not send a Secure cookie back over http://; send it by hand to see the session's.
    signed_in = session.post(
        f"{url}/accounts/login/",
        {"csrfmiddlewaretoken": token, "username": "sales", "password": "demo"},
        headers={"Cookie": f"csrftoken={page.cookies['csrftoken']}"},
        allow_redirects=False,
        timeout=10,
    )

    assert cookie(page, "csrftoken").secure
    assert signed_in.status_code == 302
    assert cookie(signed_in, "sessionid").secure


def test_by_default_plain_http_is_redirected_to_https(production_server):
    url = production_server()

    response = requests.get(f"{url}/accounts/login/", allow_redirects=False, timeout=10)

    assert response.status_code == 301
    assert response.headers["Location"].startswith("https://127.0.0.1")
