"""A task goes through a real Celery worker process on the configured broker.

The broker is whatever the settings name: the filesystem transport by default, Redis in CI's second
pass. A queue of its own keeps the test from meeting any other worker.
"""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from celery.result import AsyncResult

from portal.tasks import heartbeat_task

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker_queue():
    queue = f"test-{uuid.uuid4().hex[:12]}"
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "--pool=solo",
            "-Q",
            queue,
            "--without-mingle",
            "--without-gossip",
            "--loglevel=WARNING",
            "-n",
            f"{queue}@%h",
        ],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "ZT_SYNC_ON_WORKER_START": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield queue
    finally:
        worker.terminate()
        try:
            _, errors = worker.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.communicate()
        else:
            assert "Traceback" not in errors, errors


def test_a_task_runs_on_a_real_worker(worker_queue):
    sent: AsyncResult = heartbeat_task.apply_async(queue=worker_queue)

    answered = sent.get(timeout=60)

    assert sent.successful()
    assert answered[:4].isdigit() and "T" in answered  # an ISO timestamp from the worker's clock
