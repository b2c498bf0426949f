"""Settings load from the environment both ways: the embedded development default and production."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "p" * 20 + "-production-secret-with-enough-entropy-1234567890",
    "ALLOWED_HOSTS": "portal.reseller.example",
    "DATABASE_URL": "postgres://portal:secret@db:5432/portal",
    "CELERY_BROKER_URL": "redis://redis:6379/0",
    "ZT_API_URL": "https://androiddeviceprovisioning.googleapis.com",
    "ZT_PARTNER_ID": "987654321",
    "ZT_CREDENTIALS_FILE": "/run/secrets/zero-touch-key.json",
}
# Variables of the calling environment that would change what the settings see.
SETTINGS_VARIABLES = [
    "DEBUG",
    "SECRET_KEY",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "ALLOWED_HOSTS",
    "ZT_API_URL",
    "ZT_PARTNER_ID",
    "ZT_CREDENTIALS_FILE",
    "DJANGO_SETTINGS_MODULE",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "SECURE_COOKIES",
    "SECURE_SSL_REDIRECT",
    "TRUST_X_FORWARDED_PROTO",
    "PORTAL_DEV_TOOLS",
]


def run_manage(args: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    clean.update({"VAR_DIR": str(tmp_path / "var"), "DJANGO_SETTINGS_MODULE": "portal.settings", **env})
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


def read_settings(env: dict[str, str], tmp_path: Path) -> dict:
    code = (
        "import json; from django.conf import settings as s; print(json.dumps({"
        "'debug': s.DEBUG, 'db': s.DATABASES['default'], 'broker': s.CELERY_BROKER_URL,"
        "'backend': s.CELERY_RESULT_BACKEND, 'api': s.ZT_API_URL, 'partner': s.ZT_PARTNER_ID,"
        "'credentials': s.ZT_CREDENTIALS_FILE, 'secure_cookie': s.SESSION_COOKIE_SECURE,"
        "'secure_csrf_cookie': s.CSRF_COOKIE_SECURE, 'redirect': s.SECURE_SSL_REDIRECT,"
        "'hsts': s.SECURE_HSTS_SECONDS, 'proxy_header': s.SECURE_PROXY_SSL_HEADER,"
        "'cache': s.CACHES['default'], 'apps': s.INSTALLED_APPS}, default=str))"
    )
    result = run_manage(["shell", "-c", code], env, tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_development_defaults_need_no_server(tmp_path):
    loaded = read_settings({"DEBUG": "1"}, tmp_path)

    assert loaded["debug"] is True
    assert loaded["db"]["ENGINE"] == "django.db.backends.sqlite3"
    assert loaded["db"]["NAME"] == str(tmp_path / "var" / "portal.sqlite3")
    assert "journal_mode=WAL" in loaded["db"]["OPTIONS"]["init_command"]
    assert loaded["db"]["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert loaded["db"]["OPTIONS"]["timeout"] >= 5
    assert loaded["broker"] == "filesystem://"
    assert (tmp_path / "var" / "broker" / "queue").is_dir()
    assert loaded["api"] == "http://127.0.0.1:8800"
    assert loaded["credentials"] == ""
    assert loaded["cache"]["BACKEND"] == "django.core.cache.backends.db.DatabaseCache"
    assert (loaded["secure_cookie"], loaded["redirect"]) == (False, False)
    assert "bench" in loaded["apps"]


def test_the_bench_targets_install_the_development_tools_with_debug_off(tmp_path):
    loaded = read_settings({**PRODUCTION_ENV, "PORTAL_DEV_TOOLS": "1"}, tmp_path)

    assert loaded["debug"] is False
    assert "bench" in loaded["apps"]


def test_production_settings_come_from_the_environment(tmp_path):
    loaded = read_settings(PRODUCTION_ENV, tmp_path)

    assert loaded["debug"] is False
    assert loaded["db"]["ENGINE"] == "django.db.backends.postgresql"
    assert (loaded["db"]["HOST"], loaded["db"]["NAME"], loaded["db"]["USER"]) == ("db", "portal", "portal")
    assert loaded["broker"] == "redis://redis:6379/0"
    assert loaded["backend"] == "redis://redis:6379/0"
    assert loaded["api"] == "https://androiddeviceprovisioning.googleapis.com"
    assert loaded["partner"] == "987654321"
    assert loaded["credentials"] == "/run/secrets/zero-touch-key.json"
    assert loaded["cache"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert loaded["cache"]["LOCATION"] == "redis://redis:6379/0"
    assert "bench" not in loaded["apps"]  # the development tools are never installed in production


def test_production_is_secure_by_default_and_trusts_no_forwarded_header(tmp_path):
    loaded = read_settings(PRODUCTION_ENV, tmp_path)

    assert (loaded["secure_cookie"], loaded["secure_csrf_cookie"]) == (True, True)
    assert loaded["redirect"] is True
    assert loaded["hsts"] == 31536000
    assert loaded["proxy_header"] is None  # a client could send X-Forwarded-Proto itself


def test_behind_a_tls_proxy_the_forwarded_scheme_is_believed(tmp_path):
    loaded = read_settings({**PRODUCTION_ENV, "TRUST_X_FORWARDED_PROTO": "1"}, tmp_path)

    assert loaded["proxy_header"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_production_over_plain_http_drops_secure_cookies_the_redirect_and_hsts(tmp_path):
    env = {**PRODUCTION_ENV, "SECURE_COOKIES": "0", "SECURE_SSL_REDIRECT": "0"}

    loaded = read_settings(env, tmp_path)

    assert (loaded["secure_cookie"], loaded["secure_csrf_cookie"]) == (False, False)
    assert loaded["redirect"] is False
    assert loaded["hsts"] == 0  # HSTS would pin browsers to an HTTPS the portal does not serve


@pytest.mark.parametrize("proxy", ["0", "1"])
def test_production_settings_pass_the_deployment_checklist(tmp_path, proxy):
    env = {**PRODUCTION_ENV, "TRUST_X_FORWARDED_PROTO": proxy}

    result = run_manage(["check", "--deploy", "--fail-level", "WARNING"], env, tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNINGS" not in result.stdout + result.stderr


def test_the_deployment_checklist_says_why_plain_http_is_not_production(tmp_path):
    env = {**PRODUCTION_ENV, "SECURE_COOKIES": "0", "SECURE_SSL_REDIRECT": "0"}

    result = run_manage(["check", "--deploy"], env, tmp_path)

    for warning in ["security.W008", "security.W012", "security.W016"]:  # redirect, session and CSRF cookies
        assert warning in result.stderr


@pytest.mark.parametrize("debug", ["0", ""])
def test_production_refuses_to_start_without_a_secret_key(tmp_path, debug):
    env = {**PRODUCTION_ENV, "SECRET_KEY": ""}
    if debug:
        env["DEBUG"] = debug
    else:
        env.pop("DEBUG")

    result = run_manage(["check"], env, tmp_path)

    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr
