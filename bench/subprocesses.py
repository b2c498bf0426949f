"""What starting the portal's own processes (a worker, beat, gunicorn, the emulator) from Python needs:
the database this process uses, as a DATABASE_URL the child can open, and a free port. Used by the
benchmarks, the chaos and load runs, and the tests that start real processes."""

import socket

from django.db import connection


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
