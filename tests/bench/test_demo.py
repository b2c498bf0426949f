"""`make run`'s demo: users, the cache from the emulator's demo state, and a year of history that
agrees with the cache and that the reports count."""

import io
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.test import Client
from django.utils import timezone

from devices.models import Device, DeviceEvent
from reports.models import DailyActivity

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo_state(tmp_path, settings):
    state = tmp_path / "emulator.sqlite3"
    seed = ["--customers", "4", "--vendors", "1", "--devices", "600", "--random-seed", "3"]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "emulator",
            "seed",
            "--state",
            str(state),
            "--partner-id",
            str(settings.ZT_PARTNER_ID),
            *seed,
        ],
        check=True,
        capture_output=True,
    )
    return state


def test_the_demo_fills_the_cache_and_writes_a_year_of_history_the_reports_count(settings, demo_state):
    settings.DEBUG = True

    call_command("demo_setup", emulator_state=demo_state, stdout=io.StringIO())

    assert Device.objects.filter(owner__isnull=False).exists()
    events = DeviceEvent.objects.all()
    assert events.count() > 100
    assert all(event.details == {"demo": True} for event in events)
    now = timezone.now()
    assert events.filter(created_at__lt=now - timedelta(days=90)).exists(), "spread over the year"
    assert not events.filter(created_at__gt=now).exists()
    assert events.filter(outcome=DeviceEvent.Outcome.FAILED).exclude(failure_kind="").exists()
    # Agrees with the cache: a device's last claim or unclaim leaves it as the cache holds it.
    for device in Device.objects.filter(events__isnull=False).distinct():
        last = device.events.filter(kind__in=["claimed", "unclaimed", "drift_claimed"], outcome="succeeded")
        last = last.order_by("-created_at", "-id").first()
        if last.kind == "unclaimed":
            assert device.owner_id is None
        else:
            assert device.owner_id == last.customer_id
    # Every event is in the rollups, and the manager's report shows them.
    assert DailyActivity.objects.aggregate(total=Sum("count"))["total"] == events.count()
    manager = Client()
    assert manager.login(username="manager", password="demo")
    page = manager.get("/reports/", {"preset": "last_12_months"})
    assert page.status_code == 200
    assert (
        "Nothing in this range" not in page.content.decode().split("By salesperson")[1].split("</section>")[0]
    )


def test_the_demo_refuses_a_missing_emulator_state(settings, tmp_path):
    from django.core.management.base import CommandError

    settings.DEBUG = True

    with pytest.raises(CommandError, match="No emulator state"):
        call_command("demo_setup", emulator_state=tmp_path / "missing.sqlite3")
