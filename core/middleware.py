from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from core.tracing import REQUEST_ID_HEADER, new_request_id, request_id_scope, sane_request_id


class RequestIdMiddleware:
    """Gives every request an id that its log lines, the tasks it enqueues, their API calls and its
    audit rows carry (``core.tracing``), and answers it in ``X-Request-ID``.

    An id sent by the caller (a proxy or load balancer that starts the trace) is kept when it looks
    like one; anything else is replaced, so that a client cannot write what it likes into the logs.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER)
        request_id = sane_request_id(incoming) or new_request_id()
        request.request_id = request_id
        with request_id_scope(request_id):
            response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response
