"""The devices CSV export at scale (``python manage.py zt_bench export``): rows a second and the
process's memory while the whole cache streams out through the view, as a web worker serves it.

Runs on the data ``zt_bench cache`` built (1,000,000 devices). Three downloads through Django's
whole request path (a signed-in salesperson, the middleware, the view, the streamed response read to
its end): every device, the biggest customer's devices, and a text search (an IMEI prefix). For each
it prints rows, seconds, rows a second and the process's resident memory before and at its peak
(sampled every 20 ms). Targets: at least 50,000 rows a second for the whole cache, and the process
under 150 MB throughout. A missed target makes the command fail.
"""

import threading
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import CommandError
from django.db.models import Count
from django.test import Client
from django.test.utils import override_settings

from core.roles import Role, ensure_role_groups
from devices.models import Device

ROWS_PER_SECOND_TARGET = 50_000
MEMORY_TARGET_MB = 150


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class _PeakMemory(threading.Thread):
    """The process's largest resident size while it runs."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = _rss_mb()
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.02):
            self.peak = max(self.peak, _rss_mb())

    def __enter__(self) -> "_PeakMemory":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.join()
        self.peak = max(self.peak, _rss_mb())


def _download(client: Client, query: dict) -> tuple[int, float, float, float]:
    """(rows, seconds, memory before, peak memory) of one export read to its end."""
    before = _rss_mb()
    with _PeakMemory() as memory:
        started = time.perf_counter()
        response = client.get("/devices/export.csv", query)
        if response.status_code != 200:
            raise CommandError(f"The export answered {response.status_code}.")
        lines = sum(chunk.count(b"\n") for chunk in response.streaming_content)
        seconds = time.perf_counter() - started
    return lines - 1, seconds, before, memory.peak


def bench_export(out) -> None:
    if not Device.objects.exists():
        raise CommandError("Run `zt_bench cache` on this database first: it builds the devices.")
    ensure_role_groups()
    user, _ = get_user_model().objects.get_or_create(username="benchmark-sales")
    user.groups.add(Group.objects.get(name=Role.SALES.value))
    biggest = (
        Device.objects.exclude(owner=None).values("owner_id").annotate(n=Count("pk")).order_by("-n").first()
    )
    imei = Device.objects.exclude(imei="").values_list("imei", flat=True).first()
    plain_static = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    failed = []
    with override_settings(ALLOWED_HOSTS=["testserver"], SECURE_SSL_REDIRECT=False, STORAGES=plain_static):
        client = Client()
        client.force_login(user)
        for label, query, whole in (
            ("every device", {}, True),
            (f"customer {biggest['owner_id']}'s devices", {"customer": biggest["owner_id"]}, False),
            (f"IMEI prefix {imei[:5]}", {"q": imei[:5]}, False),
        ):
            rows, seconds, before, peak = _download(client, query)
            rate = rows / seconds if seconds else 0.0
            out.write(
                f"export, {label}: {rows:,} rows in {seconds:.1f} s = {rate:,.0f} rows/s; "
                f"process memory {before:.0f} MB before, {peak:.0f} MB at its peak"
            )
            if whole and rate < ROWS_PER_SECOND_TARGET:
                failed.append(f"{label}: {rate:,.0f} rows/s (target ≥ {ROWS_PER_SECOND_TARGET:,})")
            if peak >= MEMORY_TARGET_MB:
                failed.append(f"{label}: {peak:.0f} MB (target < {MEMORY_TARGET_MB} MB)")
    for line in failed:
        out.write(f"missed: {line}")
    if failed:
        raise CommandError("The export missed a target.")
