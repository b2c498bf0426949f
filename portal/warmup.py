"""Make a web worker ready before its first request: without this, the first request of every fresh
worker imports every app's views and admin (the URL configuration), compiles the templates it
renders and opens the database connection, and so answers several times slower than the next.

``warm_up`` runs where the WSGI application is made (``portal.wsgi``), which is safe before gunicorn
forks its workers (it opens nothing); ``connect`` opens the database connection and must run in the
worker itself (``gunicorn.conf.py``'s ``post_worker_init``): a connection opened before a fork would
be shared by every worker.
"""

import logging
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.template import engines
from django.template.loader import get_template
from django.urls import get_resolver, reverse

logger = logging.getLogger(__name__)


def _template_names() -> list[str]:
    """Every template of the project's own (its directory and its apps'; Django's admin templates
    are left to the admins' first page)."""
    engine = engines["django"].engine
    project, installed = Path(settings.BASE_DIR).resolve(), Path(sys.prefix).resolve()
    roots = [Path(d) for d in engine.dirs]
    for loader in engine.template_loaders:
        for inner in getattr(loader, "loaders", [loader]):
            if hasattr(inner, "get_dirs"):
                roots.extend(Path(d) for d in inner.get_dirs())
    names = set()
    for root in roots:
        ours = root.resolve().is_relative_to(project) and not root.resolve().is_relative_to(installed)
        if root.is_dir() and ours:
            names.update(str(path.relative_to(root)) for path in root.rglob("*.html"))
    return sorted(names)


def warm_up() -> None:
    """Import the URL configuration (every app's views), fill the reverse lookup and compile every
    template into the cached loader."""
    started = time.perf_counter()
    resolver = get_resolver()
    resolver.url_patterns  # noqa: B018 - importing it is the point
    reverse("devices:list")  # fills the resolver's reverse lookup for the whole configuration
    names = _template_names()
    for name in names:  # a template that does not compile stops the worker here, not on a page
        get_template(name)
    took = 1000 * (time.perf_counter() - started)
    logger.info("warmed up in %.0f ms: URLs and %d templates", took, len(names))


def connect() -> None:
    """Open this worker's database connection now rather than in its first request."""
    connection.ensure_connection()
