"""The project's own middleware: caching rules for every response (the request ids' middleware is
``core.middleware.RequestIdMiddleware``)."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control, patch_vary_headers

# Pages that say nothing about anyone: a browser or proxy may keep them whoever asked.
PUBLIC_URL_NAMES = frozenset({"healthz", "readyz"})


class PrivatePagesMiddleware:
    """Caching rules every response needs, kept in one place rather than on each view.

    - A response to a signed-in person is ``Cache-Control: private, no-store``: it shows customers,
      devices and the audit log, and must not be kept by a shared proxy or in the browser's cache,
      where the back button would show it again after signing out.
    - Every HTML response has ``Vary: HX-Request``: the same URL answers a whole page, or only a
      fragment for HTMX, and a cache must not hand one out for the other.

    Static files never get here (WhiteNoise answers them further up); they stay cacheable.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.get("Content-Type", "").startswith("text/html"):
            patch_vary_headers(response, ["HX-Request"])
        if self._is_private(request):
            patch_cache_control(response, private=True, no_store=True)
        return response

    @staticmethod
    def _is_private(request: HttpRequest) -> bool:
        if request.path_info.startswith("/" + settings.STATIC_URL.lstrip("/")):
            return False
        match = request.resolver_match
        if match is not None and match.url_name in PUBLIC_URL_NAMES:
            return False
        user = getattr(request, "user", None)
        return user is not None and user.is_authenticated
