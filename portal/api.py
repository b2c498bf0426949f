"""The one place the portal builds its zero-touch API client from settings.

Services call ``zerotouch_client()``; views and tasks never touch the client themselves. One client
per process and priority keeps HTTP connections alive between calls. When the broker is Redis, the
rate limiter keeps its bucket there, so every web and worker process together stays under the quota.
"""

from functools import cache

from django.conf import settings

from zerotouch import Client, Priority, build_client


@cache
def _base_client() -> Client:
    broker = settings.CELERY_BROKER_URL
    return build_client(
        api_url=settings.ZT_API_URL,
        partner_id=settings.ZT_PARTNER_ID,
        credentials_file=settings.ZT_CREDENTIALS_FILE or None,
        connect_timeout=settings.ZT_CONNECT_TIMEOUT,
        read_timeout=settings.ZT_READ_TIMEOUT,
        quota_requests=settings.ZT_QUOTA_REQUESTS,
        quota_period=settings.ZT_QUOTA_PERIOD_SECONDS,
        redis_url=broker if broker.startswith(("redis://", "rediss://")) else None,
        deadline=settings.ZT_BATCH_DEADLINE,
    )


def zerotouch_client(*, interactive: bool = False) -> Client:
    """The API client; ``interactive=True`` for a person waiting on a page (short deadline, priority)."""
    client = _base_client()
    if interactive:
        return client.with_options(deadline=settings.ZT_INTERACTIVE_DEADLINE, priority=Priority.INTERACTIVE)
    return client


def reset_zerotouch_client() -> None:
    """Forget the built client (after settings change, e.g. in tests pointing at another emulator)."""
    if _base_client.cache_info().currsize:
        _base_client().close()
    _base_client.cache_clear()
