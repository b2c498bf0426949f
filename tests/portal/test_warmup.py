"""A web worker is ready before its first request (portal.warmup): URL configuration imported, every
template of the project compiled into the cached loader, and (in the worker) the database connection
open."""

import runpy
from pathlib import Path

import pytest
from django.db import connection
from django.template import engines

from portal.warmup import _template_names, warm_up


def cached_loader():
    engine = engines["django"].engine
    cached = [loader for loader in engine.template_loaders if hasattr(loader, "get_template_cache")]
    assert cached, "the engine keeps compiled templates (Django's cached loader)"
    return cached[0]


def test_every_template_of_the_project_is_compiled_before_a_request():
    loader = cached_loader()
    loader.reset()

    warm_up()

    names = _template_names()
    assert "base.html" in names and "devices/list.html" in names and "batches/new.html" in names
    assert "admin/devices/syncrun/change_list.html" in names  # the project's own admin page is ours
    assert "admin/base.html" not in names  # Django's own are left to the admins' first page
    assert set(names) <= set(loader.get_template_cache)


@pytest.mark.django_db(transaction=True)
def test_the_worker_opens_its_database_connection_before_its_first_request():
    hooks = runpy.run_path(str(Path(__file__).resolve().parents[2] / "gunicorn.conf.py"))
    connection.close()
    assert connection.connection is None

    hooks["post_worker_init"](worker=None)

    assert connection.connection is not None
