"""Request ids, so that one person's click can be followed through every log line it causes.

A web request gets an id (``core.middleware.RequestIdMiddleware``: the ``X-Request-ID`` of a
trusted proxy when it looks like an id, else a new one); it travels in a context variable to everything the
request does in this process, in the headers of every Celery task it enqueues (``portal.celery``),
and on the worker back into the same context variable while the task runs. ``RequestIdFilter``
puts it on every log record (so each API call's line names it), and ``core.audit.audit_record``
writes it into the audit row's details. ``JsonFormatter`` writes log lines as JSON
(``LOG_FORMAT=json``) for log collectors.
"""

import json
import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

REQUEST_ID_HEADER = "X-Request-ID"
# What a trusted proxy or load balancer may send and the portal keeps: letters, digits and - _ . : of a
# sensible length. Anything else (log injection, megabytes) is replaced by an id of the portal's own.
_SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,99}")

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def sane_request_id(value: str | None) -> str | None:
    """``value`` if it is fit to be kept in logs and the audit log, else None."""
    if value and _SANE_ID.fullmatch(value):
        return value
    return None


def current_request_id() -> str | None:
    return _request_id.get()


@contextmanager
def request_id_scope(value: str | None) -> Iterator[str | None]:
    """Make ``value`` the current request id until the block ends (then the previous one again)."""
    token = _request_id.set(value)
    try:
        yield value
    finally:
        _request_id.reset(token)


def set_request_id(value: str | None):
    """Set the id for code that cannot use a ``with`` block (Celery's prerun/postrun signals); give
    the returned token to ``reset_request_id``."""
    return _request_id.set(value)


def reset_request_id(token) -> None:
    _request_id.reset(token)


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record ("-" outside a request or a task that carries one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get() or "-"
        return True


# The attributes every LogRecord has; anything else on a record came in ``extra`` and is worth keeping.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, and the record's extra
    fields (an API call's method, status, duration...). Values that are not JSON become strings."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)
