"""Starting the portal's own processes (a Celery worker, beat) from tests, on the test database."""

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from bench.subprocesses import database_url

ROOT = Path(__file__).resolve().parents[1]


class PortalProcesses:
    """A Celery worker (and, if asked, beat) of the test run, on a queue of their own, with the test
    database, the test run's broker and the emulator the test talks to. ``kill()`` SIGKILLs the
    worker, as a crash or an out-of-memory kill would; ``start_worker()`` brings one back."""

    def __init__(self, *, emulator_url: str, partner_id: str, variables: dict[str, str], tmp: Path):
        self.queue = f"test-{uuid.uuid4().hex[:12]}"
        self.tmp = tmp
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CELERY_TASK_DEFAULT_QUEUE": self.queue,
            "ZT_API_URL": emulator_url,
            "ZT_PARTNER_ID": partner_id,
            "ZT_SYNC_ON_WORKER_START": "0",
            "ZT_SYNC_INTERVAL_SECONDS": "86400",
            # What the worker emails is written to files here (never to a mail server, nor its log).
            "EMAIL_DELIVERY": "file",
            "EMAIL_FILE_PATH": str(tmp / "mail"),
            **variables,
        }
        self.mail_dir = Path(self.env["EMAIL_FILE_PATH"])
        self.worker: subprocess.Popen | None = None
        self.beat: subprocess.Popen | None = None
        self.logs: list[Path] = []

    def _spawn(self, *arguments: str, name: str) -> subprocess.Popen:
        log = self.tmp / f"{name}-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("w") as output:  # the child keeps its own copy of the descriptor
            return subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "portal", *arguments],
                cwd=ROOT,
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def start_worker(self) -> None:
        self.worker = self._spawn(
            "worker",
            "--pool=threads",
            "--concurrency=2",
            "-Q",
            self.queue,
            "--without-mingle",
            "--without-gossip",
            "--loglevel=INFO",
            "-n",  # the same node name every start, as a restarted container keeps its hostname
            f"{self.queue}@%h",
            name="worker",
        )

    def start_beat(self) -> None:
        self.beat = self._spawn(
            "beat", "--loglevel=INFO", "--schedule", str(self.tmp / "beat-schedule"), name="beat"
        )

    def kill(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            self.worker.kill()
            self.worker.wait(timeout=30)

    def stop(self) -> None:
        for process in (self.worker, self.beat):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

    def log_text(self) -> str:
        return "\n".join(
            f"--- {log.name}\n{log.read_text(errors='replace')}" for log in self.logs if log.exists()
        )


@contextmanager
def portal_processes(**kwargs) -> Iterator[PortalProcesses]:
    processes = PortalProcesses(**kwargs)
    try:
        yield processes
    finally:
        processes.stop()
