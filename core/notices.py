"""Notices: one line for one person about something that ended while they were elsewhere, shown at the
top of the pages they open (the layout) until they dismiss it or open the page it links to.

An app tells a person with ``notice_post`` in the transaction that records the event itself, so that
the notice exists exactly when the event does. Reading a person's notices is one query on an index
that holds only unseen notices.
"""

from django.db.models import QuerySet
from django.utils import timezone

from core.models import Notice

SHOWN_AT_ONCE = 5


def notice_post(*, user_id: int, key: str, text: str, link: str = "") -> Notice:
    """Tell ``user_id`` about the event ``key``; telling the same event again changes nothing."""
    notice, _ = Notice.objects.get_or_create(
        user_id=user_id, key=key, defaults={"text": text[:500], "link": link[:500]}
    )
    return notice


def _unseen(user_id: int) -> QuerySet[Notice]:
    return Notice.objects.filter(user_id=user_id, seen_at__isnull=True)


def notices_unseen(*, user_id: int, after: int = 0, limit: int = SHOWN_AT_ONCE) -> list[Notice]:
    """The person's newest unseen notices, oldest of them first (the order they happened), only those
    after the notice id ``after`` (what a page already shows)."""
    newest = _unseen(user_id).filter(id__gt=after).order_by("-id")[:limit]
    return sorted(newest, key=lambda notice: notice.pk)


def notices_seen(*, user_id: int, ids: list[int]) -> int:
    """Mark the person's notices ``ids`` seen (dismissed, or their page opened); others' are untouched."""
    return _unseen(user_id).filter(id__in=ids).update(seen_at=timezone.now())


def notices_for_page(*, user_id: int, path: str, after: int = 0) -> list[Notice]:
    """The unseen notices to show on the page at ``path`` (after the notice id ``after``). A notice
    that links to this very page is marked seen instead: the person is looking at what it tells."""
    notices = notices_unseen(user_id=user_id, after=after)
    here = [notice.pk for notice in notices if notice.link and notice.link == path]
    if here:
        notices_seen(user_id=user_id, ids=here)
    return [notice for notice in notices if notice.pk not in here]
