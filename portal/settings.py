"""Settings for the zero-touch reseller portal.

Everything that differs between a developer's laptop and production comes from the environment.
The embedded defaults need no server at all: a SQLite file and a filesystem Celery broker under
``var/``, and the project's emulator standing in for Google's API.
"""

import os
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP, build_policy

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (set DEBUG=1 for development).")
    SECRET_KEY = "django-insecure-development-key-only-for-debug"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "portal.admin_site.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    # The foundation, under the label "portal" that the audit log's table, migrations and permissions
    # have always had (core/apps.py). portal/ itself is the project, not an installed app.
    "core",
    "customers",
    "devices",
    "batches",
    "reports",
    "ops",
]
# Development tools (bench/: the benchmarks, the chaos run, the load test, the demo's history, and the
# zt_bench, reports_bench and demo_setup commands): installed with DEBUG on, or with PORTAL_DEV_TOOLS=1
# (the Makefile's bench targets, which run with DEBUG off). Production installs none of it.
PORTAL_DEV_TOOLS = DEBUG or env_bool("PORTAL_DEV_TOOLS", False)
if PORTAL_DEV_TOOLS:
    INSTALLED_APPS.append("bench")

MIDDLEWARE = [
    "core.middleware.RequestIdMiddleware",  # first: every later line logged names the request
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # answers static files itself: nothing below sees them
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "core.middleware.FormCharsetMiddleware",  # before anything reads a form's body (CSRF): answers 400
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "portal.middleware.PrivatePagesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.navigation",
                "portal.context_processors.notices",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# SQLite runs in WAL mode with IMMEDIATE transactions and a busy timeout, so the web process and a
# Celery worker can both write without "database is locked".
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'portal.sqlite3'}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # Checkpoint the WAL every ~16 MB rather than 4 MB: fewer syncs of the database file during
        # bulk writes (sync ingest), still bounded.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=4000;"
        " PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------------
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Sign-in throttling (portal.signin), per client address: after this many failures within the window
# for one account (any letter case) from one address, or for any accounts from one address, that
# address is refused, even with the right password, until the window ends; other addresses are not.
LOGIN_FAILURES_PER_ACCOUNT = int(os.environ.get("LOGIN_FAILURES_PER_ACCOUNT", "5"))
LOGIN_FAILURES_PER_ADDRESS = int(os.environ.get("LOGIN_FAILURES_PER_ADDRESS", "20"))
LOGIN_FAILURE_WINDOW_SECONDS = int(os.environ.get("LOGIN_FAILURE_WINDOW_SECONDS", "900"))
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Security -------------------------------------------------------------------------------
# Secure by default once DEBUG is off; each part can be turned off on its own for a production-shape
# run over plain HTTP (SECURE_COOKIES=0 SECURE_SSL_REDIRECT=0): clients do not send a Secure cookie
# back over http:// (browsers except to localhost), and signing in would fail on CSRF.
SECURE_COOKIES = env_bool("SECURE_COOKIES", not DEBUG)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # container healthchecks speak plain HTTP
# Behind a proxy that terminates TLS, requests reach the portal over HTTP and only X-Forwarded-Proto
# says they were HTTPS. A client can send that header too, so it is believed only when the operator
# says a proxy that overwrites it stands in front. The sign-in throttle then also takes the client's
# address from the proxy's X-Forwarded-For entry (portal.signin.client_address).
TRUST_X_FORWARDED_PROTO = env_bool("TRUST_X_FORWARDED_PROTO", False)
if TRUST_X_FORWARDED_PROTO:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# HSTS only when the portal insists on HTTPS itself: it would pin browsers to a scheme it does not serve.
if SECURE_SSL_REDIRECT:
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = 60 * 60 * 12
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django.middleware.csp): the portal's pages and Django admin load scripts,
# styles and images from the portal only, and run no inline script, inline style or eval.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}


def static_security_headers(headers, path: str, url: str) -> None:
    """WhiteNoise answers static files before the CSP and clickjacking middleware run: give them the
    headers those add to pages (the SecurityMiddleware above it adds the rest). Called by WhiteNoise
    with each file's headers (``wsgiref.headers.Headers``), its path and its URL."""
    from django.conf import settings

    for header, config in (
        (CSP.HEADER_ENFORCE, settings.SECURE_CSP),
        (CSP.HEADER_REPORT_ONLY, settings.SECURE_CSP_REPORT_ONLY),
    ):
        if config and header not in headers:
            headers[str(header)] = build_policy(config)
    if "X-Frame-Options" not in headers:
        headers["X-Frame-Options"] = settings.X_FRAME_OPTIONS


WHITENOISE_ADD_HEADERS_FUNCTION = static_security_headers

# --- Zero-touch API -------------------------------------------------------------------------
# Without a credentials file the portal talks to the project's emulator with a static token.
ZT_API_URL = os.environ.get("ZT_API_URL", f"http://127.0.0.1:{os.environ.get('EMULATOR_PORT', '8800')}")
ZT_PARTNER_ID = os.environ.get("ZT_PARTNER_ID", "1000001")
# The reseller's own name, as staff call it: where a page or a file would otherwise say "the reseller".
PORTAL_RESELLER_NAME = os.environ.get("PORTAL_RESELLER_NAME", "").strip() or f"Reseller {ZT_PARTNER_ID}"
ZT_CREDENTIALS_FILE = os.environ.get("ZT_CREDENTIALS_FILE", "")
ZT_CONNECT_TIMEOUT = float(os.environ.get("ZT_CONNECT_TIMEOUT", "3.05"))
ZT_READ_TIMEOUT = float(os.environ.get("ZT_READ_TIMEOUT", "20"))
ZT_QUOTA_REQUESTS = int(os.environ.get("ZT_QUOTA_REQUESTS", "1000"))
ZT_QUOTA_PERIOD_SECONDS = float(os.environ.get("ZT_QUOTA_PERIOD_SECONDS", "100"))
# The share of the quota background work (the sync) keeps while a batch waits for requests.
ZT_QUOTA_BACKGROUND_SHARE = float(os.environ.get("ZT_QUOTA_BACKGROUND_SHARE", "0.7"))
# Without Redis, every process on this machine shares the quota through this locked file.
ZT_QUOTA_FILE = Path(os.environ.get("ZT_QUOTA_FILE", VAR_DIR / "zerotouch-quota.json"))
# How long one API call may take, retries included: a person waiting on a page, or a background job.
ZT_INTERACTIVE_DEADLINE = float(os.environ.get("ZT_INTERACTIVE_DEADLINE", "4"))
ZT_BATCH_DEADLINE = float(os.environ.get("ZT_BATCH_DEADLINE", "60"))
# Sync: how often beat runs a full sync, and when a "running" sync without a heartbeat counts as dead.
ZT_SYNC_INTERVAL_SECONDS = float(os.environ.get("ZT_SYNC_INTERVAL_SECONDS", "3600"))
ZT_SYNC_STALE_SECONDS = float(os.environ.get("ZT_SYNC_STALE_SECONDS", "300"))
# A sync is a chain of steps, each working at most this long (and under a third of the task's soft
# time limit) before it saves its checkpoint and hands over to the next.
ZT_SYNC_STEP_SECONDS = float(os.environ.get("ZT_SYNC_STEP_SECONDS", "120"))
# How often beat looks for a sync whose worker died (its heartbeat older than ZT_SYNC_STALE_SECONDS).
ZT_SYNC_WATCHDOG_SECONDS = float(os.environ.get("ZT_SYNC_WATCHDOG_SECONDS", "60"))
# Customers whose devices changed lately (portal, batches, drift) are synced this often in between.
ZT_SYNC_ACTIVE_SECONDS = float(os.environ.get("ZT_SYNC_ACTIVE_SECONDS", "900"))
ZT_SYNC_ON_WORKER_START = env_bool("ZT_SYNC_ON_WORKER_START", True)  # when no sync has finished yet
# Customer groups a full sync fetches and writes at once (PostgreSQL only; SQLite has one writer).
ZT_SYNC_WORKERS = int(os.environ.get("ZT_SYNC_WORKERS", "2"))
# Batches: devices per async request (the API takes up to 100,000), the input limits, how often an
# operation is polled (by its progress, between the two), and how long an operation whose answer was
# lost may still be changing devices (a base plus a time per device) before they are read back.
ZT_BATCH_CHUNK_SIZE = max(1, min(100_000, int(os.environ.get("ZT_BATCH_CHUNK_SIZE", "1000"))))
ZT_BATCH_MAX_ROWS = int(os.environ.get("ZT_BATCH_MAX_ROWS", "100000"))
ZT_BATCH_MAX_BYTES = int(os.environ.get("ZT_BATCH_MAX_BYTES", str(20 * 1024 * 1024)))
# How long the pre-flight of one file may take (reading, checking, storing) before it is refused.
ZT_BATCH_PREFLIGHT_SECONDS = float(os.environ.get("ZT_BATCH_PREFLIGHT_SECONDS", "60"))
ZT_BATCH_POLL_MIN_SECONDS = float(os.environ.get("ZT_BATCH_POLL_MIN_SECONDS", "2"))
ZT_BATCH_POLL_MAX_SECONDS = float(os.environ.get("ZT_BATCH_POLL_MAX_SECONDS", "10"))
ZT_BATCH_SETTLE_SECONDS = float(os.environ.get("ZT_BATCH_SETTLE_SECONDS", "30"))
ZT_BATCH_SETTLE_SECONDS_PER_DEVICE = float(os.environ.get("ZT_BATCH_SETTLE_SECONDS_PER_DEVICE", "0.02"))
ZT_BATCH_SWEEP_SECONDS = float(os.environ.get("ZT_BATCH_SWEEP_SECONDS", "10"))
# Drafts (checked, never confirmed) and discarded jobs are deleted with their rows this many days after
# they were made (beat looks hourly); jobs that were sent are kept.
ZT_BATCH_DRAFT_RETENTION_DAYS = float(os.environ.get("ZT_BATCH_DRAFT_RETENTION_DAYS", "7"))
# Pasted and scanned devices arrive in the request body: room for the row limit's worth of lines.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("DATA_UPLOAD_MAX_MEMORY_SIZE", str(8 * 1024 * 1024)))

# --- Celery ---------------------------------------------------------------------------------
# Default broker: kombu's filesystem transport, so `make run` needs no server. Production: redis://.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_DIR = Path(os.environ.get("CELERY_BROKER_DIR", VAR_DIR / "broker"))
if CELERY_BROKER_URL.startswith("filesystem://"):
    for folder in ("queue", "results", "control"):
        (CELERY_BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
    # kombu's transport with messages written whole before a worker can see them (portal.broker).
    CELERY_BROKER_TRANSPORT = "portal.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),  # kombu's default is ./control
        "store_processed": False,
        # kombu waits this long whenever it cannot take a message, including while the worker's
        # prefetch is full: at its default (1 s) a worker with two threads took about two messages
        # a second, fewer than beat's sweeps enqueue in a busy test, and a backlog of hundreds
        # stalled a batch for minutes. A local folder listing every 0.1 s costs nothing.
        "polling_interval": 0.1,
    }
    CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", f"file://{CELERY_BROKER_DIR / 'results'}")
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", CELERY_BROKER_URL)
CELERY_RESULT_EXPIRES = 60 * 60 * 24
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = int(os.environ.get("CELERY_TASK_SOFT_TIME_LIMIT", "600"))
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 60
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The worker logs through the portal's LOGGING (request ids, LOG_FORMAT=json), not a root logger of its own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {"task": "portal.tasks.heartbeat_task", "schedule": 300.0},
    "full-sync": {"task": "devices.tasks.sync_full_task", "schedule": ZT_SYNC_INTERVAL_SECONDS},
    "sync-watchdog": {"task": "devices.tasks.sync_watchdog_task", "schedule": ZT_SYNC_WATCHDOG_SECONDS},
    "sync-active-customers": {
        "task": "devices.tasks.sync_active_customers_task",
        "schedule": ZT_SYNC_ACTIVE_SECONDS,
    },
    "batches-sweep": {"task": "batches.tasks.batches_sweep_task", "schedule": ZT_BATCH_SWEEP_SECONDS},
    "fill-event-models": {"task": "devices.tasks.events_fill_models_task", "schedule": 300.0},
    "batches-purge-drafts": {"task": "batches.tasks.jobs_purge_task", "schedule": 3600.0},
    # Emails about jobs that ended whose task was lost, or that a dead worker left half-sent.
    "batches-emails-sweep": {"task": "batches.tasks.job_emails_sweep_task", "schedule": 60.0},
}

# Reports: the weekly summary to managers who opted in, Mondays at 07:00 (CELERY_TIMEZONE).
CELERY_BEAT_SCHEDULE["reports-weekly-summary"] = {
    "task": "reports.tasks.weekly_summaries_send_task",
    "schedule": crontab(minute=0, hour=7, day_of_week="mon"),
}
# Reports: devices per customer "now" are counted this often (a million devices take too long to
# count while a manager waits).
REPORTS_FLEET_COUNT_SECONDS = float(os.environ.get("REPORTS_FLEET_COUNT_SECONDS", "300"))
CELERY_BEAT_SCHEDULE["reports-fleet-counts"] = {
    "task": "reports.tasks.fleet_counts_take_task",
    "schedule": REPORTS_FLEET_COUNT_SECONDS,
}

# --- Email ----------------------------------------------------------------------------------
# The worker's emails: the reports' weekly summary, and a batch job's end (to its sender, if asked,
# and to the customer's notification addresses) (Django 6.1's MAILERS; docs/operations.md, "Email").
# EMAIL_DELIVERY: "console" (development's default: the worker's output), "file" (one file per
# message under var/mail; the tests' workers use it) or "smtp" (production's default, through
# EMAIL_HOST).
EMAIL_DELIVERY = os.environ.get("EMAIL_DELIVERY", "console" if DEBUG else "smtp")
_MAIL_OPTIONS: dict[str, dict] = {
    "console": {},
    "file": {"file_path": str(Path(os.environ.get("EMAIL_FILE_PATH", VAR_DIR / "mail")))},
    "smtp": {
        "host": os.environ.get("EMAIL_HOST", "localhost"),
        "username": os.environ.get("EMAIL_HOST_USER", ""),
        "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
        "use_tls": env_bool("EMAIL_USE_TLS", False),
        "timeout": 10,
        **({"port": int(os.environ["EMAIL_PORT"])} if os.environ.get("EMAIL_PORT") else {}),
    },
}
if EMAIL_DELIVERY not in _MAIL_OPTIONS:
    raise ImproperlyConfigured("EMAIL_DELIVERY must be console, file or smtp.")
MAILERS = {
    "default": {
        "BACKEND": {
            "console": "django.core.mail.backends.console.EmailBackend",
            "file": "django.core.mail.backends.filebased.EmailBackend",
            "smtp": "django.core.mail.backends.smtp.EmailBackend",
        }[EMAIL_DELIVERY],
        "OPTIONS": _MAIL_OPTIONS[EMAIL_DELIVERY],
    }
}
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Zero-touch portal <zero-touch-portal@localhost>")
# The portal's address as people reach it, for links in emails.
PORTAL_BASE_URL = os.environ.get("PORTAL_BASE_URL", f"http://127.0.0.1:{os.environ.get('WEB_PORT', '8000')}")
# While a person has a batch job running, their pages look for its end's notice this often.
PORTAL_NOTICE_POLL_SECONDS = float(os.environ.get("PORTAL_NOTICE_POLL_SECONDS", "20"))

# --- Cache ----------------------------------------------------------------------------------
# One cache every process shares (the sign-in throttle counts in it): the broker's Redis when there is
# one, else a table of the portal's database (created by core/migrations/0004). The key prefix keeps
# the portal's keys apart from Celery's; note that cache.clear() empties the whole Redis database,
# broker queues included, and nothing in the portal calls it outside the tests.
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CELERY_BROKER_URL,
            "KEY_PREFIX": "portal",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "portal_cache",
            # Culling (a third of the rows once this many) would drop live counters; keep room for many.
            "OPTIONS": {"MAX_ENTRIES": 50_000},
        }
    }

# --- Operations: the API health page, readiness, metrics -------------------------------------
# Every API call is recorded (ops.apicalls) where every process can read it: in the broker's Redis
# under this key prefix, else in this SQLite file shared by the processes of the machine.
ZT_CALLS_FILE = Path(os.environ.get("ZT_CALLS_FILE", VAR_DIR / "api-calls.sqlite3"))
ZT_CALLS_REDIS_PREFIX = os.environ.get("ZT_CALLS_REDIS_PREFIX", "portal:apicalls")
# Prometheus metrics at /metrics: off unless enabled; with a token, scrapers must send it as a bearer.
METRICS_ENABLED = env_bool("METRICS_ENABLED", False)
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")

# --- Logging --------------------------------------------------------------------------------
# Lines name the request that caused them (core.tracing); LOG_FORMAT=json writes one JSON object a
# line, with an API call's facts as fields. The zerotouch.client logger always reaches INFO, whatever
# LOG_LEVEL says, because the health page counts calls from its records.
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "core.tracing.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "core.tracing.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["request_id"],
            "level": LOG_LEVEL,
        },
        "api_calls": {"class": "ops.apicalls.ApiCallRecorder"},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "zerotouch.client": {"handlers": ["api_calls"], "level": "DEBUG" if LOG_LEVEL == "DEBUG" else "INFO"},
    },
}
