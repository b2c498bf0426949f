"""A request id from the web request through the task it enqueues to each API call, in log lines and
in the audit row; JSON log lines; no key or token in any log of a run that uses them."""

import json
import logging
import time

import pytest
from django.test import Client
from django.urls import reverse

from core.models import AuditEvent
from core.roles import Role
from core.tracing import JsonFormatter, RequestIdFilter, request_id_scope, sane_request_id
from devices.models import SyncRun
from emulator.testing import EmulatorThread, service_account_key
from tests.conftest import make_user
from tests.processes import portal_processes


def test_every_response_names_its_request(client, db):
    first, second = client.get("/healthz"), client.get("/healthz")

    assert len(first["X-Request-ID"]) == 32
    assert first["X-Request-ID"] != second["X-Request-ID"]


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("lb-7f3a9c2e-0001", True),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", True),
        ("short", False),
        ("has spaces in it", False),
        ("line\nbreak-injected", False),
        ("x" * 101, False),
        ("<script>alert(1)</script>", False),
    ],
)
def test_an_incoming_request_id_is_kept_only_when_it_looks_like_one(client, db, settings, sent, kept):
    settings.TRUST_X_FORWARDED_PROTO = True  # a proxy's id is kept (a client's own never: test_request_ids)
    answered = client.get("/healthz", headers={"X-Request-ID": sent})["X-Request-ID"]

    assert (answered == sent) is kept
    assert sane_request_id(answered) == answered


def test_the_audit_row_names_the_request(client_as, settings):
    settings.TRUST_X_FORWARDED_PROTO = True  # the id comes from a trusted proxy
    admins = client_as(Role.ADMINS)
    from tests.core.test_admin_audit import change_form

    person = make_user(Role.SALES, username="traced")
    response = admins.post(
        reverse("admin:auth_user_change", args=[person.pk]),
        change_form(person, role="Managers"),
        headers={"X-Request-ID": "trace-audit-0001"},
    )

    assert response["X-Request-ID"] == "trace-audit-0001"
    event = AuditEvent.objects.get(action="admin.change")
    assert event.details["request_id"] == "trace-audit-0001"


def test_log_lines_carry_the_request_id_and_json_keeps_the_extra_fields():
    record = logging.LogRecord("zerotouch.client", logging.INFO, __file__, 1, "%s ok", ("devices.get",), None)
    record.api_method, record.http_status, record.duration_ms = "partners.devices.get", 200, 4.2

    with request_id_scope("trace-json-0001"):
        RequestIdFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))

    assert line["request_id"] == "trace-json-0001"
    assert (line["level"], line["logger"], line["message"]) == ("INFO", "zerotouch.client", "devices.get ok")
    assert (line["api_method"], line["http_status"], line["duration_ms"]) == (
        "partners.devices.get",
        200,
        4.2,
    )


def _json_lines(text: str) -> list[dict]:
    lines = []
    for raw in text.splitlines():
        if raw.startswith("{"):
            try:
                lines.append(json.loads(raw))
            except ValueError:
                pass
    return lines


def test_a_click_is_traced_to_the_api_calls_its_task_makes_and_no_secret_is_logged(
    transactional_db, tmp_path, settings
):
    """An admin starts a sync: the worker, signing in with a service-account key against the OAuth
    emulator, logs each API call as JSON with the click's request id; the audit row has it too; and
    neither the key, the signed assertion nor an access token appears in any line, at DEBUG."""
    from portal.celery import app

    settings.TRUST_X_FORWARDED_PROTO = True  # the click's id comes from a trusted proxy

    with EmulatorThread(
        partner_id=1000001, customers=2, vendors=1, devices=15, random_seed=5, oauth=True
    ) as google:
        key = service_account_key(google.token_uri)
        google.register_key(
            {name: key[name] for name in ("client_email", "private_key_id", "public_key_pem")}
        )
        key_file = tmp_path / "key.json"
        key_file.write_text(json.dumps({k: v for k, v in key.items() if k != "public_key_pem"}))
        key_file.chmod(0o600)
        admin = make_user(Role.ADMINS, username="tracer")
        browser = Client()
        browser.force_login(admin)
        variables = {
            "ZT_CREDENTIALS_FILE": str(key_file),
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "DEBUG",
            "ZT_CALLS_FILE": str(tmp_path / "calls.sqlite3"),
        }
        with portal_processes(
            emulator_url=google.url, partner_id="1000001", variables=variables, tmp=tmp_path
        ) as processes:
            previous = app.conf.task_default_queue
            app.conf.task_default_queue = processes.queue
            processes.start_worker()
            try:
                response = browser.post(
                    reverse("admin:devices_syncrun_start"), headers={"X-Request-ID": "trace-sync-0001"}
                )
                assert response.status_code == 302
                run = SyncRun.objects.get()
                for _ in range(300):
                    run.refresh_from_db()
                    if run.status != SyncRun.Status.RUNNING:
                        break
                    time.sleep(0.1)
            finally:
                app.conf.task_default_queue = previous
            processes.stop()
            log = processes.log_text()
        assert run.status == SyncRun.Status.SUCCEEDED, log
        assert google.auth_settings()["tokens_issued"] >= 1

    calls = [
        line
        for line in _json_lines(log)
        if line.get("logger") == "zerotouch.client" and "duration_ms" in line
    ]
    assert calls, log
    # Calls made in the task's own thread carry the click's id. The sync fetches device pages in
    # threads of its own (devices.sync), which do not inherit it yet: those lines say "-", never
    # another request's id.
    by_method: dict[str, set[str]] = {}
    for line in calls:
        by_method.setdefault(line["api_method"], set()).add(line["request_id"])
    assert by_method["partners.customers.list"] == {"trace-sync-0001"}
    assert by_method["partners.vendors.list"] == {"trace-sync-0001"}
    assert "partners.devices.findByOwner" in by_method
    assert {request_id for ids in by_method.values() for request_id in ids} <= {"trace-sync-0001", "-"}
    assert AuditEvent.objects.get(action="sync.start").details["request_id"] == "trace-sync-0001"

    secret_lines = [line for line in key["private_key"].splitlines() if "PRIVATE KEY" not in line]
    assert not any(line in log for line in secret_lines)
    assert "ya29." not in log, "an access token was logged"
    assert "eyJ" not in log, "a signed JWT (the token request's assertion) was logged"
    assert "assertion=" not in log


def test_the_sync_threads_keep_the_request_id_of_their_task():
    """The sync reads pages in a thread of its own: its API calls' log lines name the same request."""
    from core.tracing import current_request_id, request_id_scope
    from devices.sync import prefetched

    def pages():
        for _ in range(3):
            yield current_request_id()  # runs in the producer thread

    with request_id_scope("sync-run-42aa"):
        seen = list(prefetched(pages(), chunk=1))
    assert seen == ["sync-run-42aa"] * 3
