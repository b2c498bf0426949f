"""docker-compose.yml cannot run here (no Docker engine), so it is read against the settings."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
SETTINGS_SOURCE = (ROOT / "portal" / "settings.py").read_text()
PORTAL_SERVICES = ["migrate", "web", "worker", "beat"]


def variables_read_by_settings() -> set[str]:
    return set(
        re.findall(r"""(?:os\.environ\.get|env_bool|env_list)\(\s*["']([A-Z_]+)["']""", SETTINGS_SOURCE)
    )


def test_the_production_shape_has_every_process():
    assert set(SERVICES) >= {"postgres", "redis", "migrate", "web", "worker", "beat", "emulator"}


def test_every_variable_given_to_the_portal_is_one_the_settings_read():
    known = variables_read_by_settings()
    for name in PORTAL_SERVICES:
        unknown = set(SERVICES[name]["environment"]) - known
        assert not unknown, f"{name} sets variables the settings never read: {unknown}"


def test_the_portal_runs_in_production_mode_on_postgres_and_redis():
    environment = SERVICES["web"]["environment"]

    assert environment["DEBUG"] == "0"
    assert environment["DATABASE_URL"].startswith("postgres://")
    assert "@postgres:5432/" in environment["DATABASE_URL"]
    assert environment["CELERY_BROKER_URL"].startswith("redis://redis:6379/")
    assert environment["ZT_API_URL"].endswith("emulator:8800}")
    assert "SECRET_KEY:?" in environment["SECRET_KEY"], "compose must refuse to start without a secret key"


def test_processes_run_the_right_programs():
    assert SERVICES["web"].get("command") is None  # the image's CMD: gunicorn portal.wsgi
    assert "gunicorn" in (ROOT / "Dockerfile").read_text()
    assert SERVICES["worker"]["command"][:4] == ["celery", "-A", "portal", "worker"]
    assert SERVICES["beat"]["command"][:4] == ["celery", "-A", "portal", "beat"]
    assert SERVICES["migrate"]["command"] == ["python", "manage.py", "migrate", "--no-input"]
    assert "python -m emulator serve" in SERVICES["emulator"]["command"][-1]


def test_long_running_services_have_healthchecks_and_wait_for_their_dependencies():
    for name in ["postgres", "redis", "web", "worker", "emulator"]:
        assert "healthcheck" in SERVICES[name], name
    for name in ["web", "worker", "beat"]:
        depends = SERVICES[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"


def test_the_web_healthcheck_hits_a_page_that_needs_no_sign_in(client, db):
    assert "/readyz" in " ".join(SERVICES["web"]["healthcheck"]["test"])
    assert client.get("/readyz").json()["status"] == "ready"
    assert client.get("/healthz").json() == {"status": "ok"}
