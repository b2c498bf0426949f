"""What starting the portal's own processes (a worker, beat, gunicorn, the emulator) from Python needs:
the database this process uses, as a DATABASE_URL the child can open, a free port, and a Celery worker
with beat. Used by the benchmarks, the chaos and load runs, and the tests that start real processes."""

import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    """This process's database as a DATABASE_URL another process can open (it sees only committed
    rows: tests that share it use ``transactional_db``)."""
    database = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{database['NAME']}"
    password = f":{database['PASSWORD']}" if database["PASSWORD"] else ""
    host = f"{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}"
    return f"postgres://{database['USER']}{password}@{host}/{database['NAME']}"


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on at the moment (another process may take it before the caller does)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@contextmanager
def celery_worker_and_beat(
    *, queue: str, env: dict[str, str], log_path: Path, beat_schedule: Path
) -> Iterator[subprocess.Popen]:
    """A Celery worker as ``make run`` starts it (prefork, 2 processes) serving ``queue``, and beat,
    both with ``env`` and writing to ``log_path``. Yields the worker (its pid leads to its processes);
    on leaving, both are terminated and given a minute each to exit."""
    command = [sys.executable, "-m", "celery", "-A", "portal"]
    with open(log_path, "w") as log:
        worker = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
            [*command, "worker", "--concurrency=2", "-Q", queue, "--loglevel=WARNING", "-n", f"{queue}@%h"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        beat = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
            [*command, "beat", "--loglevel=WARNING", "--schedule", str(beat_schedule)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield worker
    finally:
        for process in (worker, beat):
            process.terminate()
            process.wait(timeout=60)
