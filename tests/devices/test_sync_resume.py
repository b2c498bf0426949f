"""A sync in short steps, resumed from its checkpoint: after a step's time is up, after the task's
soft time limit, and after its worker is SIGKILLed. Pages already written are not fetched again
(the emulator's request counts prove it)."""

import math
import time
from collections import Counter

import pytest
from celery.exceptions import SoftTimeLimitExceeded

from core.api import Lane, zerotouch_client
from customers.models import Customer
from devices.models import Device, SyncRun
from devices.sync import FINISHED, MORE, OWNERS_PER_REQUEST, PAGE_SIZE, sync_begin, sync_step
from tests.processes import portal_processes


def cached_claims() -> dict[int, int]:
    return dict(Device.objects.filter(owner__isnull=False).values_list("device_id", "owner_id"))


def pages_needed(truth: dict[int, int]) -> int:
    """The findByOwner pages a whole sync needs: customers ten to a query, 100 devices a page."""
    per_owner = Counter(truth.values())
    owners = list(Customer.objects.order_by("pk").values_list("pk", flat=True))
    groups = [owners[i : i + OWNERS_PER_REQUEST] for i in range(0, len(owners), OWNERS_PER_REQUEST)]
    return sum(max(1, math.ceil(sum(per_owner[o] for o in group) / PAGE_SIZE)) for group in groups)


def listings(emulator) -> int:
    return emulator.stats()["methods"].get("partners.devices.findByOwner", {}).get("200", 0)


@pytest.mark.django_db
def test_a_sync_in_many_short_steps_fetches_each_page_once(emulator):
    emulator.seed(customers=25, vendors=0, devices=1500, random_seed=81)
    truth = emulator.zero_touch_claims()
    emulator.clear_stats()
    run = sync_begin(trigger="test")

    steps = 1
    while sync_step(run.pk, budget=0.0) == MORE:  # every step is out of time after one page
        steps += 1

    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    assert cached_claims() == truth
    assert steps > 10
    assert listings(emulator) == pages_needed(truth)


class SoftLimitAfter:
    """The background client, whose listing is interrupted by the task's soft time limit after
    ``pages`` pages, as Celery interrupts a task in the middle of whatever it does."""

    def __init__(self, pages: int):
        self.client = zerotouch_client(lane=Lane.BACKGROUND)
        self.pages = pages
        self.partner_id = self.client.partner_id

    def __getattr__(self, name):
        return getattr(self.client, name)

    def devices_find_by_owner_pages(self, **kwargs):
        for page in self.client.devices_find_by_owner_pages(**kwargs):
            if self.pages == 0:
                raise SoftTimeLimitExceeded()
            self.pages -= 1
            yield page


@pytest.mark.django_db
def test_a_step_stopped_by_the_soft_time_limit_is_carried_on_from_its_last_write(emulator):
    emulator.seed(customers=4, vendors=0, devices=3000, random_seed=82)
    truth = emulator.zero_touch_claims()
    emulator.clear_stats()
    run = sync_begin(trigger="test")

    interrupted = sync_step(run.pk, client=SoftLimitAfter(pages=25))  # 2,000 devices written, then 5 pages

    run.refresh_from_db()
    assert interrupted == MORE and run.status == SyncRun.Status.RUNNING
    assert 2000 <= Device.objects.count() < len(truth)
    assert sync_step(run.pk) == FINISHED
    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED and cached_claims() == truth
    # Only the pages fetched after the last write were fetched again.
    assert listings(emulator) <= pages_needed(truth) + 5 + 1


@pytest.mark.django_db(transaction=True)
def test_a_sync_whose_worker_is_killed_is_taken_over_from_its_checkpoint(emulator, tmp_path):
    from portal.celery import app

    emulator.seed(customers=30, vendors=0, devices=6000, random_seed=83)
    truth = emulator.zero_touch_claims()
    emulator.set_faults(latency_ms=30, methods=["partners.devices.findByOwner"])
    emulator.clear_stats()
    variables = {
        "ZT_SYNC_STALE_SECONDS": "3",
        "ZT_SYNC_WATCHDOG_SECONDS": "1",
        "ZT_SYNC_STEP_SECONDS": "2",
        "ZT_SYNC_WORKERS": "1",
    }
    with portal_processes(
        emulator_url=emulator.url, partner_id=str(emulator.partner_id), variables=variables, tmp=tmp_path
    ) as processes:
        previous, app.conf.task_default_queue = app.conf.task_default_queue, processes.queue
        try:
            processes.start_worker()
            processes.start_beat()
            from devices.tasks import sync_full_task

            sync_full_task.delay("test")
            deadline = time.monotonic() + 60
            while Device.objects.count() < 2000:
                assert time.monotonic() < deadline, processes.log_text()[-3000:]
                time.sleep(0.1)
            processes.kill()
            # The killed step's next step may still wait in the queue (a new worker would then carry
            # on the same run) or have died with the worker, prefetched: drop it, so that the
            # watchdog is what must notice the silent run and take it over.
            with app.connection_for_write() as broker:
                broker.default_channel.queue_purge(processes.queue)
            written = Device.objects.count()
            processes.start_worker()
            deadline = time.monotonic() + 120
            while not SyncRun.objects.filter(status=SyncRun.Status.SUCCEEDED).exists():
                assert time.monotonic() < deadline, processes.log_text()[-3000:]
                time.sleep(0.3)
        finally:
            app.conf.task_default_queue = previous

    done = SyncRun.objects.get(status=SyncRun.Status.SUCCEEDED)
    killed = SyncRun.objects.get(pk=done.progress["resumed_from"])
    assert killed.status == SyncRun.Status.INTERRUPTED
    assert cached_claims() == truth
    assert written < len(truth)
    # At most the pages in flight when the worker died (a batch of 20 and 10 prefetched) came again.
    assert listings(emulator) <= pages_needed(truth) + 30
