"""Django's deployment checklist, run the way CI runs it: the settings docker-compose.yml gives the
web service, with a freshly generated secret key, must raise no warning at all
(``check --deploy --fail-level WARNING``), and the harness must notice a warning when there is one."""

import re
import secrets
from pathlib import Path

import pytest
import yaml

from tests.portal.test_settings import run_manage

ROOT = Path(__file__).resolve().parents[2]
WEB_ENVIRONMENT = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]["environment"]
CHECK = ["check", "--deploy", "--fail-level", "WARNING"]


def compose_environment(given: dict[str, str]) -> dict[str, str]:
    """The web service's environment as Compose resolves it: ``${NAME:-default}`` and
    ``${NAME:?error}`` replaced from ``given``, as an operator's shell or .env file would give them."""

    def resolve(match: re.Match) -> str:
        name, operator, word = match.group(1), match.group(2), match.group(3)
        if given.get(name):
            return given[name]
        if operator == ":?":
            pytest.fail(f"docker compose would refuse to start without {name}: {word}")
        return word or ""

    pattern = re.compile(r"\$\{([A-Z_]+)(?:(:-|:\?)([^}]*))?\}")
    return {name: pattern.sub(resolve, str(value)) for name, value in WEB_ENVIRONMENT.items()}


def production(**overrides: str) -> dict[str, str]:
    given = {
        "SECRET_KEY": secrets.token_urlsafe(50),  # as the compose file's comment says to make one
        "ALLOWED_HOSTS": "portal.reseller.example",
        "CSRF_TRUSTED_ORIGINS": "https://portal.reseller.example",
        **overrides,
    }
    return compose_environment(given)


def test_the_compose_file_refuses_to_start_without_a_secret_key():
    with pytest.raises(pytest.fail.Exception, match="SECRET_KEY"):
        compose_environment({})


@pytest.mark.parametrize("proxy", ["0", "1"], ids=["direct-https", "behind-a-tls-proxy"])
def test_the_compose_settings_pass_the_deployment_checklist_without_a_warning(tmp_path, proxy):
    environment = production(TRUST_X_FORWARDED_PROTO=proxy)
    assert len(environment["SECRET_KEY"]) >= 50 and environment["DEBUG"] == "0"

    result = run_manage(CHECK, environment, tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


@pytest.mark.parametrize(
    ("overrides", "warning"),
    [
        ({"SECRET_KEY": "too-short-and-guessable"}, "security.W009"),
        ({"SECURE_SSL_REDIRECT": "0"}, "security.W008"),
        ({"SECURE_COOKIES": "0"}, "security.W012"),
    ],
    ids=["weak-secret-key", "no-https-redirect", "cookies-over-http"],
)
def test_a_weakened_setting_fails_the_check(tmp_path, overrides, warning):
    """The check above can fail: each weakening is a warning, and a warning fails the build."""
    result = run_manage(CHECK, production(**overrides), tmp_path)

    assert result.returncode != 0
    assert warning in result.stderr


def test_ci_runs_the_suite_that_holds_this_check():
    """.ci/run calls `make test`, which checks the layers (lint-imports) and then runs pytest over
    tests/ (this file included)."""
    ci = (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()

    assert re.search(r"^\s*(?:env .*\s)?make test\b", ci, re.M)
    assert re.search(r"^test: venv\n\t\$\(VENV\)/bin/lint-imports\n\t\$\(VENV\)/bin/pytest", makefile, re.M)
