"""Listings that follow ``nextPageToken``: one ``Pager`` for every list and find method.

A ``Pager`` is what ``customers_list``, ``devices_find_by_owner`` and the other listings return. It
serves three kinds of reader from one walk over the pages:

- iterate it for the typed items (``Company``, ``Device``), page after page, as a generator would;
- ``pages()`` for one ``Page`` at a time, holding the items as the API's JSON (``items_json``; the
  typed ones from ``items()``) and the ``next_page_token`` that resumes the listing after that page, so
  that a long read can save where it is and carry on later, in another process, with ``page_token=``;
- bulk readers take ``items_json`` and map the JSON themselves: building a typed ``Device`` costs more
  CPU than its share of the request does.

Nothing is requested before the first item or page is asked for. A listing is read once: iterating
it again finds nothing more (as with a generator), and asking for its pages once it has been read is
an error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidResponse
from .ratelimit import Priority
from .retry import Safety

__all__ = ["MAX_PAGE_SIZE", "Page", "Pager", "checked_page_size", "find_pager", "list_pager"]

#: ``limit`` of findByOwner/findByIdentifier must be 1-100; the client applies the same cap to lists.
MAX_PAGE_SIZE = 100


def checked_page_size(value: int | None, *, default: int | None) -> int | None:
    """``value`` checked against the API's limits (``default`` when None), before any request."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"page_size must be an int, not {type(value).__name__}.")
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, not {value}.")
    return value


@dataclass(frozen=True, slots=True)
class Page[T]:
    """One page of a listing: its items as the API's JSON objects, and the token that fetches the
    next page (None: this is the last one)."""

    items_json: list[dict[str, Any]]
    next_page_token: str | None
    build: Callable[[Mapping[str, Any]], T] = field(repr=False, compare=False)

    def items(self) -> list[T]:
        """The page's items as typed objects (built on each call)."""
        build = self.build
        return [build(item) for item in self.items_json]


class Pager[T]:
    """A listing, read lazily page by page from ``page_token`` (None: the start).

    ``fetch(token)`` sends the request for one page and returns its JSON, whose ``items_key`` holds
    the items; ``build`` makes a typed item of one item's JSON.
    """

    def __init__(
        self,
        api_method: str,
        fetch: Callable[[str | None], Mapping[str, Any]],
        items_key: str,
        build: Callable[[Mapping[str, Any]], T],
        page_token: str | None = None,
    ) -> None:
        self.api_method = api_method
        self._fetch = fetch
        self._items_key = items_key
        self._build = build
        self._page_token = page_token
        self._started = False
        self._items: Iterator[T] | None = None

    def __repr__(self) -> str:
        return f"<zerotouch.Pager {self.api_method}>"

    def pages(self) -> Iterator[Page[T]]:
        """The pages, following ``nextPageToken`` until the server omits it.

        A token the server already gave once would start a cycle; that is reported as an invalid
        response instead of looping for ever.
        """
        if self._started:
            raise ValueError(f"This {self.api_method} listing has been read already; start another one.")
        self._started = True
        return self._walk()

    def _walk(self) -> Iterator[Page[T]]:
        seen: set[str] = set()
        token = self._page_token
        while True:
            payload = self._fetch(token)
            token = payload.get("nextPageToken") or None
            yield Page(list(payload.get(self._items_key) or ()), token, self._build)
            if token is None:
                return
            if token in seen:
                raise InvalidResponse(
                    f"The server sent the same page token twice while paging {self.api_method}",
                    api_method=self.api_method,
                )
            seen.add(token)

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._items is None:
            self._items = (item for page in self.pages() for item in page.items())
        return next(self._items)


# ---------------------------------------------------------------------------------------------------
# The API's two ways of asking for a page; ``request`` is ``Transport.request``


def find_pager[T](
    request: Callable[..., dict[str, Any]],
    api_method: str,
    path: str,
    body: Mapping[str, Any],
    build: Callable[[Mapping[str, Any]], T],
    *,
    page_size: int | None,
    page_token: str | None,
    deadline: float | None,
    priority: Priority | None,
) -> Pager[T]:
    """A find method's devices: a POST per page, the page size as the body's ``limit``."""

    def fetch(token: str | None) -> Mapping[str, Any]:
        page_body = dict(body, limit=str(page_size))
        if token:
            page_body["pageToken"] = token
        return request(
            api_method, "POST", path, safety=Safety.READ, body=page_body, deadline=deadline, priority=priority
        )

    return Pager(api_method, fetch, "devices", build, page_token)


def list_pager[T](
    request: Callable[..., dict[str, Any]],
    api_method: str,
    path: str,
    items_key: str,
    build: Callable[[Mapping[str, Any]], T],
    *,
    page_size: int | None,
    page_token: str | None,
    deadline: float | None,
    priority: Priority | None,
) -> Pager[T]:
    """A list method's items (under ``items_key``): a GET per page, with ``pageSize`` when the caller
    chose one."""

    def fetch(token: str | None) -> Mapping[str, Any]:
        params: dict[str, Any] = {}
        if page_size is not None:
            params["pageSize"] = page_size
        if token:
            params["pageToken"] = token
        return request(
            api_method, "GET", path, safety=Safety.READ, params=params, deadline=deadline, priority=priority
        )

    return Pager(api_method, fetch, items_key, build, page_token)
