"""The API health page, readiness and metrics: figures from a known sequence of real API calls."""

import time
import uuid

import pytest
from django.urls import reverse

from batches.models import BatchChunk
from core.api import Lane, reset_zerotouch_client, zerotouch_client
from core.roles import Role
from devices.sync import sync_full
from ops.apicalls import ApiCall, call_store
from ops.health import api_health, celery_status, percentile, readiness
from portal.celery import app
from portal.tasks import heartbeat_task
from tests.processes import portal_processes

UNKNOWN_DEVICE = "999999999"


@pytest.fixture
def calls(settings, tmp_path):
    """A record of API calls of this test's own (a file, or keys in the test run's Redis)."""
    settings.ZT_CALLS_FILE = tmp_path / "calls.sqlite3"
    settings.ZT_CALLS_REDIS_PREFIX = f"test:{uuid.uuid4().hex}"
    settings.ZT_QUOTA_REQUESTS, settings.ZT_QUOTA_PERIOD_SECONDS = 1000, 100  # Google's: 600 a minute
    return call_store()


def make_known_calls(emulator) -> None:
    """4 reads by people, 2 refusals in the batch lane, 1 background read."""
    people = zerotouch_client(lane=Lane.INTERACTIVE)
    for _ in range(4):
        next(iter(people.customers_list(page_size=1)))  # the first page only: one call
    batch = zerotouch_client(lane=Lane.BATCH)
    for _ in range(2):
        with pytest.raises(Exception, match="404"):
            batch.devices_get(device_id=UNKNOWN_DEVICE)
    list(zerotouch_client(lane=Lane.BACKGROUND).vendors_list())


def test_percentiles_are_measured_values_by_nearest_rank():
    durations = [float(ms) for ms in range(10, 101, 10)]  # 10, 20 ... 100

    assert percentile(durations, 0.5) == 50.0
    assert percentile(durations, 0.95) == 100.0
    assert percentile([7.0], 0.95) == 7.0


def test_figures_from_recorded_calls(calls):
    start = (time.time() // 60 - 2) * 60  # a minute boundary, two minutes ago
    for n, ms in enumerate(range(10, 101, 10)):
        calls.record(ApiCall(start + n, "partners.devices.get", "interactive", 200, "ok", "", float(ms), 0.0))
    calls.record(
        ApiCall(start + 20, "partners.devices.claim", "batch", 400, "error", "FailedPrecondition", 5, 0)
    )
    calls.record(ApiCall(start + 21, "partners.devices.claim", "batch", None, "error", "Timeout", 3000, 0))
    calls.record(ApiCall(start + 70, "partners.devices.findByOwner", "background", 200, "ok", "", 30, 1500))

    health = api_health(now=start + 75)

    assert health.quota_per_minute == 600
    now, before = health.minutes[0], health.minutes[1]
    assert (now.by_lane, now.total) == ({"interactive": 0, "batch": 0, "background": 1}, 1)
    assert (before.by_lane, before.total, before.quota_percent) == (
        {"interactive": 10, "batch": 2, "background": 0},
        12,
        2,
    )
    assert health.errors_by_status == [("400", 1), ("Timeout", 1)]
    latency = {row.api_method: (row.calls, row.p50_ms, row.p95_ms) for row in health.latency}
    assert latency["partners.devices.get"] == (10, 50.0, 100.0)
    assert latency["partners.devices.claim"] == (2, 5.0, 3000.0)
    assert health.limiter_waits["background"] == (1, 1.5)
    assert health.last_success.timestamp() == start + 70


def test_the_page_shows_the_figures_of_real_calls(emulator, calls, client_as):
    emulator.seed(customers=2, vendors=1, devices=5)
    make_known_calls(emulator)

    response = client_as(Role.ADMINS).get(reverse("ops"))

    assert response.status_code == 200
    health = response.context["health"]
    by_lane = {
        lane: sum(m.by_lane[lane] for m in health.minutes) for lane in ("interactive", "batch", "background")
    }
    assert by_lane == {"interactive": 4, "batch": 2, "background": 1}
    assert health.calls_last_hour == 7
    assert health.errors_by_status == [("404", 2)]
    latency = {row.api_method: row.calls for row in health.latency}
    assert latency == {"partners.customers.list": 4, "partners.devices.get": 2, "partners.vendors.list": 1}
    assert health.last_success is not None
    assert "<td>partners.devices.get</td><td>2</td>" in response.text
    assert "<td>404</td><td>2</td>" in response.text


def test_htmx_refreshes_only_the_figures(emulator, calls, client_as):
    response = client_as(Role.ADMINS).get(reverse("ops"), headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert "<html" not in response.text
    assert response.text.lstrip().startswith('<div id="ops-figures"')
    assert 'hx-trigger="every 5s"' in response.text
    assert "Test connection" not in response.text


def test_the_quota_is_written_with_its_thousands_separated(emulator, calls, client_as, settings):
    settings.ZT_QUOTA_REQUESTS, settings.ZT_QUOTA_PERIOD_SECONDS = 12_000, 60

    response = client_as(Role.ADMINS).get(reverse("ops"), headers={"HX-Request": "true"})

    assert "of 12,000 requests" in response.text


def test_the_page_is_for_admins_only(client_as):
    assert client_as(Role.SALES).get(reverse("ops")).status_code == 403
    assert client_as(Role.MANAGERS).get(reverse("ops")).status_code == 403
    assert client_as(Role.MANAGERS).post(reverse("ops_connection")).status_code == 403


def test_operations_waited_on_are_counted(emulator, calls, client_as, settings):
    import io

    from batches.drafts import job_from_input
    from batches.jobs import job_confirm
    from batches.submission import chunk_submit_next
    from devices.models import Device

    settings.ZT_BATCH_CHUNK_SIZE = 2
    emulator.seed(customers=2, vendors=0, devices=20, random_seed=4)
    sync_full()
    emulator.set_operation_rate(0)  # operations stay pending
    imeis = list(
        Device.objects.filter(owner__isnull=False).exclude(imei="").values_list("imei", flat=True)[:4]
    )
    job = job_from_input(
        action="unclaim",
        mode="file",
        customer=None,
        any_owner=True,  # the devices are both customers'
        actor=None,
        upload=io.BytesIO(("imei\n" + "\n".join(imeis)).encode()),
        upload_name="x.csv",
    )
    job = job_confirm(job=job, actor=None)
    chunk_submit_next(job.pk)

    response = client_as(Role.ADMINS).get(reverse("ops"))

    pending = response.context["pending"]
    assert pending.count == 1 == BatchChunk.objects.filter(state="submitted").count()
    assert pending.oldest[0].job_id == job.pk
    assert BatchChunk.objects.filter(job=job, state="pending").count() == 1  # not sent yet: not counted


def test_queue_depth_counts_the_messages_waiting(settings, db):
    queue = f"test-depth-{uuid.uuid4().hex[:8]}"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    for _ in range(3):
        heartbeat_task.apply_async(queue=queue)

    status = celery_status(ping_timeout=0.2)

    assert status.problem == ""
    assert (status.queue, status.queue_depth) == (queue, 3)


def test_a_running_worker_answers_the_ping(transactional_db, emulator, tmp_path):
    with portal_processes(
        emulator_url=emulator.url, partner_id=str(emulator.partner_id), variables={}, tmp=tmp_path
    ) as processes:
        processes.start_worker()
        previous = app.conf.task_default_queue
        app.conf.task_default_queue = processes.queue
        try:
            heartbeat_task.delay().get(timeout=60)  # the worker is up
            status = celery_status(ping_timeout=1.0)
        finally:
            app.conf.task_default_queue = previous
        assert any(name.startswith(processes.queue) for name in status.workers), (
            status,
            processes.log_text(),
        )


def test_a_broker_that_does_not_answer_is_said_and_the_page_still_opens(emulator, calls, client_as):
    keys = ("broker_url", "broker_read_url", "broker_write_url")
    previous = {key: app.conf[key] for key in (*keys, "broker_transport")}
    # A Redis that does not answer (the embedded default names its own transport: drop it too).
    app.conf.update({**dict.fromkeys(keys, "redis://127.0.0.1:1/0"), "broker_transport": None})
    try:
        status = celery_status(ping_timeout=0.2)
        ready, checks = readiness()
        page = client_as(Role.ADMINS).get(reverse("ops"))
        answer = client_as(None).get("/readyz")
    finally:
        app.conf.update(previous)
    assert status.queue_depth is None and "did not answer" in status.problem
    assert not ready and checks["broker"]["ok"] is False and checks["database"]["ok"] is True
    assert page.status_code == 200 and "The broker did not answer" in page.text
    assert answer.status_code == 503 and answer.json()["status"] == "not ready"


def test_readiness_reports_the_database_the_broker_and_the_last_successful_call(emulator, calls, client_as):
    client = client_as(Role.ADMINS)  # the details are for admins; others get the status alone
    emulator.seed(customers=1, vendors=0, devices=1)
    before = client.get("/readyz")
    next(iter(zerotouch_client().customers_list(page_size=1)))
    after = client.get("/readyz")

    assert before.status_code == 200, before.json()
    assert before.json()["status"] == "ready"
    assert before.json()["database"]["ok"] and before.json()["broker"]["ok"]
    assert before.json()["api"] == {"last_success": None}
    assert after.json()["api"]["last_success"] is not None
    assert after.json()["api"]["seconds_ago"] <= 5
    assert client.get("/healthz").json() == {"status": "ok"}  # liveness stays what it was


# --- Metrics -------------------------------------------------------------------------------------


def test_metrics_are_off_unless_enabled(client, db):
    assert client.get("/metrics").status_code == 404


def test_metrics_count_calls_by_method_status_and_lane(emulator, calls, client, settings, db):
    settings.METRICS_ENABLED = True
    emulator.seed(customers=2, vendors=1, devices=5)
    make_known_calls(emulator)

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.text
    assert (
        'zerotouch_api_calls_total{lane="interactive",method="partners.customers.list",status="200"} 4.0'
        in text
    )
    assert 'zerotouch_api_calls_total{lane="batch",method="partners.devices.get",status="404"} 2.0' in text
    assert 'zerotouch_api_latency_milliseconds{method="partners.devices.get",quantile="0.95"}' in text
    assert "zerotouch_sync_running 0.0" in text
    assert 'zerotouch_batch_jobs{state="running"} 0.0' in text
    assert "zerotouch_api_limiter_wait_seconds_total" in text or "zerotouch_api_limiter_wait_seconds" in text


def test_metrics_want_the_token_when_one_is_set(client, settings, calls, db):
    settings.METRICS_ENABLED = True
    settings.METRICS_TOKEN = "scrape-secret"

    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"}).status_code == 200


@pytest.fixture(autouse=True)
def fresh_client():
    reset_zerotouch_client()
    yield
    reset_zerotouch_client()


def test_the_page_says_checking_until_the_workers_first_answer(
    transactional_db, emulator, calls, client_as, tmp_path
):
    client = client_as(Role.ADMINS)
    with portal_processes(
        emulator_url=emulator.url, partner_id=str(emulator.partner_id), variables={}, tmp=tmp_path
    ) as processes:
        processes.start_worker()
        previous = app.conf.task_default_queue
        app.conf.task_default_queue = processes.queue
        try:
            heartbeat_task.delay().get(timeout=60)  # the worker is up
            page = client.get(reverse("ops"))
            fragment = client.get(reverse("ops"), headers={"HX-Request": "true"})
        finally:
            app.conf.task_default_queue = previous

    # The page does not wait for a ping: it says so, and its figures ask at once (then every 5 s).
    assert "Checking" in page.text and "No worker answered" not in page.text
    assert 'hx-trigger="load, every 5s"' in page.text
    # The figures' answer names the worker, and asks again only every 5 s.
    assert f"<code>{processes.queue}" in fragment.text, processes.log_text()
    assert "Checking" not in fragment.text and "No worker answered" not in fragment.text
    assert 'hx-trigger="every 5s"' in fragment.text and "load," not in fragment.text
