"""The Celery application: configured from Django settings (``CELERY_*``), tasks autodiscovered.

A task carries the request id of whatever enqueued it (a web request, or a task itself enqueued by
one) in its message headers, and runs with it as the current id, so that the lines a worker logs for
it, and each API call it makes, name the click that started it (``core.tracing``).
"""

import os

from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun

from core.tracing import current_request_id, reset_request_id, sane_request_id, set_request_id

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()  # the installed apps' tasks modules
# The project is not an installed app: its own tasks (the heartbeat) are named here.
app.autodiscover_tasks(["portal"])

REQUEST_ID_TASK_HEADER = "portal_request_id"


@before_task_publish.connect(dispatch_uid="portal.request_id.publish")
def send_request_id(headers: dict | None = None, **kwargs) -> None:
    """Put the current request id in the message's headers (protocol 2 keeps them apart from the
    task's arguments, which stay what the task's signature says)."""
    request_id = current_request_id()
    if request_id and headers is not None:
        headers.setdefault(REQUEST_ID_TASK_HEADER, request_id)


@task_prerun.connect(dispatch_uid="portal.request_id.prerun")
def take_request_id(task=None, **kwargs) -> None:
    """Run the task under the id its message carries (None for beat's and the worker's own)."""
    if task is None:
        return
    carried = getattr(task.request, REQUEST_ID_TASK_HEADER, None)
    if carried is None:
        carried = (getattr(task.request, "headers", None) or {}).get(REQUEST_ID_TASK_HEADER)
    task.request._portal_request_id_token = set_request_id(sane_request_id(carried))


@task_postrun.connect(dispatch_uid="portal.request_id.postrun")
def drop_request_id(task=None, **kwargs) -> None:
    token = getattr(getattr(task, "request", None), "_portal_request_id_token", None)
    if token is not None:
        reset_request_id(token)
