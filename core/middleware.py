from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.utils.log import log_response

from core.tracing import REQUEST_ID_HEADER, new_request_id, request_id_scope, sane_request_id


class RequestIdMiddleware:
    """Gives every request an id that its log lines, the tasks it enqueues, their API calls and its
    audit rows carry (``core.tracing``), and answers it in ``X-Request-ID``.

    An id sent by the caller is kept only when a proxy is trusted (``TRUST_X_FORWARDED_PROTO``: the
    proxy or load balancer in front starts the trace) and the id looks like one. Otherwise the portal
    makes its own, so that a client reaching it directly cannot choose the id its audit rows and log
    lines carry, nor write what it likes into them.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER) if settings.TRUST_X_FORWARDED_PROTO else None
        request_id = sane_request_id(incoming) or new_request_id()
        request.request_id = request_id
        with request_id_scope(request_id):
            response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


FORM_CONTENT_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}
# UTF-8 under the names clients give it, and US-ASCII, which is a part of it.
UTF8_CHARSETS = {"utf-8", "utf8", "us-ascii"}
CHARSET_REFUSED = "This form was sent in a character set the portal does not read; send it as UTF-8."


class FormCharsetMiddleware:
    """Answers a form sent in a character set other than UTF-8 with a 400 in words, before anything
    reads its body.

    Django refuses such a form only where ``request.POST`` is first read (``BadRequest`` for a
    url-encoded form; a multipart form in a charset Python does not know fails further on), and the
    CSRF check reads it on every POST, whatever the page. Browsers send forms in the page's encoding,
    always UTF-8 here, so only a hand-made request meets this. Other names of UTF-8 ("utf8", and
    "us-ascii", a part of it) are read as UTF-8, where Django would refuse them too.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.content_type not in FORM_CONTENT_TYPES or "charset" not in request.content_params:
            return self.get_response(request)
        charset = request.content_params["charset"]
        if charset.strip().lower() not in UTF8_CHARSETS:
            response = HttpResponseBadRequest(CHARSET_REFUSED, content_type="text/plain; charset=utf-8")
            # One line for the refusal, with its reason; Django logs nothing more for a response
            # already logged.
            log_response(
                "Form in charset %r refused: %s",
                charset[:40],
                request.path,
                response=response,
                request=request,
            )
            return response
        request.encoding = "utf-8"
        return self.get_response(request)
