"""The notices of the layout: what ended while a person was elsewhere (``core.notices``), on every page
they open, and while one of their batch jobs runs, looked for every few seconds.

A page reads them only when it shows the layout: the context processor hands templates a lazy
``LayoutNotices``, which an htmx fragment never touches, so a fragment costs no query. A full page
costs one query on the unseen-notices index and, to decide whether to look again, one on the jobs'
state index. The poll runs only while the person has a job queued or running, and asks for notices
newer than those shown: nothing is replaced, so a screen reader announces each notice once.
"""

from functools import cached_property

from django.conf import settings

from batches.selectors import jobs_running_for
from core.models import Notice
from core.notices import notices_for_page


class LayoutNotices:
    def __init__(self, *, user_id: int, path: str, after: int = 0):
        self.user_id = user_id
        self.path = path
        self.after = after

    @cached_property
    def shown(self) -> list[Notice]:
        # Whether a job runs is read first: a job that ends between the two reads then has its notice
        # either read here or looked for by the next poll, never left for the next page.
        _ = self.poll
        return notices_for_page(user_id=self.user_id, path=self.path, after=self.after)

    @cached_property
    def poll(self) -> bool:
        return jobs_running_for(self.user_id)

    @property
    def last_id(self) -> int:
        """The newest notice the page holds: the next poll asks for those after it."""
        return max([self.after, *(notice.pk for notice in self.shown)])

    @property
    def poll_interval(self) -> str:
        """How often to look again, as htmx writes it ("20s")."""
        return f"{settings.PORTAL_NOTICE_POLL_SECONDS:g}s"
