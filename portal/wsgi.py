import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

application = get_wsgi_application()

if os.environ.get("PORTAL_WARM_UP", "1") == "1":  # 0 leaves the work to each worker's first request
    from portal.warmup import warm_up

    warm_up()
