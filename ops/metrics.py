"""Prometheus metrics (``/metrics``, off unless ``METRICS_ENABLED``), read at scrape time.

The figures live where every process writes them (the record of API calls, the database), so one
collector reads them when Prometheus asks: no per-process registries to merge across gunicorn and
Celery processes (prometheus_client's multiprocess mode), and every web process answers the same.

- ``zerotouch_api_calls_total{method, status, lane}``: calls since the record began (a counter);
- ``zerotouch_api_limiter_waits_total{lane}`` and ``zerotouch_api_limiter_wait_seconds_total{lane}``:
  calls the quota held back, and for how long;
- ``zerotouch_api_latency_milliseconds{method, quantile}``: p50 and p95 over the last hour;
- ``zerotouch_sync_running``, ``zerotouch_sync_customers_done``/``_total``,
  ``zerotouch_sync_devices_read``, ``zerotouch_sync_last_success_timestamp_seconds``;
- ``zerotouch_batch_jobs{state}``, ``zerotouch_batch_items_pending``, ``zerotouch_batch_chunks{state}``.
"""

import hmac
from collections.abc import Iterator

from django.conf import settings
from django.db.models import Count, F, Sum
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from batches.models import BatchChunk, BatchJob
from devices.models import SyncRun
from devices.selectors import sync_progress
from ops.apicalls import call_store
from ops.health import api_health


def authorized(header: str) -> bool:
    """Whether a scrape may read the metrics: always without a METRICS_TOKEN, else with it as a
    bearer token (compared in constant time)."""
    token = settings.METRICS_TOKEN
    if not token:
        return True
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


class PortalCollector:
    """Collects every figure at scrape time (see the module's docstring)."""

    def collect(self) -> Iterator[Metric]:
        yield from self._api()
        yield from self._sync()
        yield from self._batches()

    def _api(self) -> Iterator[Metric]:
        totals = call_store().totals()
        calls = CounterMetricFamily(
            "zerotouch_api_calls",
            "API calls by method, HTTP status and lane.",
            labels=["method", "status", "lane"],
        )
        for (method, status, lane), count in sorted(totals.calls.items()):
            calls.add_metric([method, status, lane], count)
        yield calls
        waits = CounterMetricFamily(
            "zerotouch_api_limiter_waits", "API calls the quota's limiter held back.", labels=["lane"]
        )
        waited = CounterMetricFamily(
            "zerotouch_api_limiter_wait_seconds", "Time API calls waited for the quota.", labels=["lane"]
        )
        for lane in sorted(totals.waits):
            waits.add_metric([lane], totals.waits[lane])
            waited.add_metric([lane], totals.wait_seconds.get(lane, 0.0))
        yield waits
        yield waited
        latency = GaugeMetricFamily(
            "zerotouch_api_latency_milliseconds",
            "API call latency over the last hour, by method (p50 and p95).",
            labels=["method", "quantile"],
        )
        for row in api_health().latency:
            latency.add_metric([row.api_method, "0.5"], row.p50_ms)
            latency.add_metric([row.api_method, "0.95"], row.p95_ms)
        yield latency

    def _sync(self) -> Iterator[Metric]:
        running = SyncRun.objects.filter(status=SyncRun.Status.RUNNING).first()
        progress = sync_progress(running) if running else None
        yield GaugeMetricFamily(
            "zerotouch_sync_running", "1 while a sync runs.", value=int(running is not None)
        )
        yield GaugeMetricFamily(
            "zerotouch_sync_customers_done",
            "Customers whose devices the running sync has read.",
            value=progress.customers_done if progress else 0,
        )
        yield GaugeMetricFamily(
            "zerotouch_sync_customers_total",
            "Customers the running sync reads.",
            value=progress.customers_total if progress else 0,
        )
        yield GaugeMetricFamily(
            "zerotouch_sync_devices_read",
            "Devices the running sync has read.",
            value=running.devices_fetched if running else 0,
        )
        last = (
            SyncRun.objects.filter(status__in=[SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL])
            .order_by("-finished_at")
            .values_list("finished_at", flat=True)
            .first()
        )
        yield GaugeMetricFamily(
            "zerotouch_sync_last_success_timestamp_seconds",
            "When a sync last finished (Unix time; 0: never).",
            value=last.timestamp() if last else 0,
        )

    def _batches(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily("zerotouch_batch_jobs", "Batch jobs by state.", labels=["state"])
        counted = dict(BatchJob.objects.order_by().values_list("state").annotate(n=Count("id")))
        for state in BatchJob.State:
            jobs.add_metric([state.value], counted.get(state.value, 0))
        yield jobs
        active = BatchJob.objects.filter(state__in=[BatchJob.State.QUEUED, BatchJob.State.RUNNING])
        pending = active.aggregate(
            n=Sum(F("ready") - F("succeeded") - F("failed") - F("cancelled"), default=0)
        )["n"]
        yield GaugeMetricFamily(
            "zerotouch_batch_items_pending",
            "Items of queued and running jobs without an outcome yet.",
            value=pending,
        )
        chunks = GaugeMetricFamily(
            "zerotouch_batch_chunks", "Chunks of unfinished jobs by state.", labels=["state"]
        )
        counted = dict(
            BatchChunk.objects.filter(job__in=active).order_by().values_list("state").annotate(n=Count("id"))
        )
        for state in BatchChunk.State:
            chunks.add_metric([state.value], counted.get(state.value, 0))
        yield chunks


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus's text format, and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PortalCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST
