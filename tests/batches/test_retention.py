"""Jobs never sent (drafts, discarded) are purged after ZT_BATCH_DRAFT_RETENTION_DAYS; sent jobs stay."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from batches.models import BatchItem, BatchJob
from batches.retention import jobs_purge
from core.roles import Role


def make_job(state: str, *, days_old: float, items: int = 3) -> BatchJob:
    job = BatchJob.objects.create(
        action=BatchJob.Action.CLAIM,
        state=state,
        created_at=timezone.now() - timedelta(days=days_old),
        rows=items,
        ready=items,
    )
    BatchItem.objects.bulk_create(
        BatchItem(job=job, row_number=row, state=BatchItem.State.PENDING, imei=f"35{row:013d}")
        for row in range(2, items + 2)
    )
    return job


def items_of(job: BatchJob) -> int:
    return BatchItem.objects.filter(job_id=job.pk).count()


@pytest.mark.django_db
def test_old_drafts_and_discarded_jobs_go_with_their_items_and_sent_jobs_stay(settings):
    settings.ZT_BATCH_DRAFT_RETENTION_DAYS = 7
    old_draft = make_job("draft", days_old=8)
    old_discarded = make_job("discarded", days_old=30, items=2)
    recent_draft = make_job("draft", days_old=6)
    recent_discarded = make_job("discarded", days_old=1)
    sent = [make_job(state, days_old=400) for state in ("queued", "running", "done", "cancelled")]

    purged = jobs_purge()

    assert purged == 2
    assert set(BatchJob.objects.values_list("pk", flat=True)) == {
        recent_draft.pk,
        recent_discarded.pk,
        *(job.pk for job in sent),
    }
    assert items_of(old_draft) == items_of(old_discarded) == 0
    assert [items_of(job) for job in (recent_draft, recent_discarded, *sent)] == [3] * 6
    assert jobs_purge() == 0


@pytest.mark.django_db
def test_the_retention_comes_from_the_setting_and_counts_from_now(settings):
    settings.ZT_BATCH_DRAFT_RETENTION_DAYS = 30
    draft = make_job("draft", days_old=8)

    assert jobs_purge() == 0
    assert jobs_purge(now=timezone.now() + timedelta(days=22, hours=1)) == 1
    assert not BatchJob.objects.filter(pk=draft.pk).exists() and items_of(draft) == 0


@pytest.mark.django_db
def test_a_big_draft_is_purged_without_reading_its_items(settings):
    """A 100,000-row draft must not be loaded row by row to be deleted: its items go in one statement."""
    draft = make_job("draft", days_old=10, items=2_500)
    kept = make_job("done", days_old=10, items=5)

    with CaptureQueriesContext(connection) as queries:
        assert jobs_purge() == 1

    on_items = [query["sql"] for query in queries if '"batches_batchitem"' in query["sql"]]
    assert on_items and all(sql.startswith("DELETE") for sql in on_items), on_items
    assert len(on_items) <= 2, on_items  # ours, and the job's cascade that finds nothing left
    assert items_of(draft) == 0 and items_of(kept) == 5


@pytest.mark.django_db
def test_a_discarded_jobs_results_file_is_not_found_like_its_page(client_as):
    discarded = make_job("discarded", days_old=0)
    draft = make_job("draft", days_old=0)
    client = client_as(Role.SALES)

    assert client.get(f"/batches/{discarded.pk}/").status_code == 404
    assert client.get(f"/batches/{discarded.pk}/results.csv").status_code == 404
    assert client.get(f"/batches/{discarded.pk}/results.csv", {"rows": "errors"}).status_code == 404
    assert client.get(f"/batches/{draft.pk}/results.csv").status_code == 200


@pytest.mark.django_db  # Celery's Django fix-up checks the models as it imports the tasks
def test_beat_purges_drafts_through_a_registered_task(settings):
    from portal.celery import app

    app.loader.import_default_modules()  # what a worker and beat do first: find every app's tasks
    entries = [entry for entry in settings.CELERY_BEAT_SCHEDULE.values() if "purge" in entry["task"]]

    assert [entry["task"] for entry in entries] == ["batches.tasks.jobs_purge_task"]
    assert entries[0]["task"] in app.tasks
    assert entries[0]["schedule"] <= 24 * 3600
