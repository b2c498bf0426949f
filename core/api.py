"""The one place the portal builds its zero-touch API client from settings.

Services call ``zerotouch_client(lane=...)``; views and tasks never touch the client themselves.
One client per process keeps HTTP connections alive between calls; each lane is a view of it with
its own deadline and priority in the shared quota:

- ``Lane.INTERACTIVE``: a person waiting on a page (short deadline, served first);
- ``Lane.BATCH``: a batch job's submission and polling;
- ``Lane.BACKGROUND``: the sync, which yields to both.

Every process draws from one bucket: in Redis when the broker is Redis, else in a locked file under
``VAR_DIR`` (web, worker and commands on one machine), so that together they stay under the quota.
"""

from functools import cache

from django.conf import settings

from zerotouch import Client, Priority, build_client

Lane = Priority


@cache
def _base_client() -> Client:
    broker = settings.CELERY_BROKER_URL
    shared_in_redis = broker.startswith(("redis://", "rediss://"))
    return build_client(
        api_url=settings.ZT_API_URL,
        partner_id=settings.ZT_PARTNER_ID,
        credentials_file=settings.ZT_CREDENTIALS_FILE or None,
        connect_timeout=settings.ZT_CONNECT_TIMEOUT,
        read_timeout=settings.ZT_READ_TIMEOUT,
        quota_requests=settings.ZT_QUOTA_REQUESTS,
        quota_period=settings.ZT_QUOTA_PERIOD_SECONDS,
        quota_background_share=settings.ZT_QUOTA_BACKGROUND_SHARE,
        redis_url=broker if shared_in_redis else None,
        quota_file=None if shared_in_redis else str(settings.ZT_QUOTA_FILE),
        deadline=settings.ZT_BATCH_DEADLINE,
    )


def zerotouch_client(*, lane: Lane = Lane.BATCH) -> Client:
    """The API client in a lane: interactive (a person waits), batch, or background (the sync)."""
    client = _base_client()
    if lane is Lane.INTERACTIVE:
        return client.with_options(deadline=settings.ZT_INTERACTIVE_DEADLINE, priority=Priority.INTERACTIVE)
    if lane is Lane.BACKGROUND:
        return client.with_options(priority=Priority.BACKGROUND)
    return client


def reset_zerotouch_client() -> None:
    """Forget the built client (after settings change, e.g. in tests pointing at another emulator)."""
    if _base_client.cache_info().currsize:
        _base_client().close()
    _base_client.cache_clear()
