"""Settings for the test run: the project's own settings in development mode, with a fast hasher."""

import os

os.environ.setdefault("DEBUG", "1")

from portal.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# The development tools (bench/) are tested too, whatever DEBUG the run was started with.
if "bench" not in INSTALLED_APPS:  # noqa: F405
    INSTALLED_APPS = [*INSTALLED_APPS, "bench"]  # noqa: F405

# Tests run with DEBUG forced off and no collectstatic: serve static files from the finders.
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True

# A SQLite test database in a file, as in production: in-memory databases keep one connection open
# per live-server thread. The process id keeps simultaneous test runs apart.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}  # noqa: F405

# Tests drive the emulator hard; the real quota is exercised by the client's own tests.
ZT_QUOTA_REQUESTS = 1_000_000

# Tests run inside one transaction of the test's connection, which other connections cannot see: the
# sync's groups run one at a time there. The tests of several groups at once ask for more themselves
# (with transaction=True, on PostgreSQL).
ZT_SYNC_WORKERS = 1
