"""The HTTP session that carries the credentials.

- Against Google: a google-auth ``AuthorizedSession`` built from a service-account key file, with the
  ``androidworkprovisioning`` scope. It fetches and refreshes the OAuth token itself.
- Against the emulator (no key file): a plain ``requests.Session`` that sends a static bearer token.

Neither the key nor the token is ever logged or shown: ``StaticBearerToken`` has a redacted repr, and
the key file is read once by google-auth and not kept by this package.
"""

from __future__ import annotations

import os

import requests
from requests.auth import AuthBase

from . import __version__
from .errors import CredentialsError

__all__ = ["SCOPE", "USER_AGENT", "StaticBearerToken", "build_session", "settle_environment"]

SCOPE = "https://www.googleapis.com/auth/androidworkprovisioning"
USER_AGENT = f"zerotouch-client/{__version__} python-requests/{requests.__version__}"


class StaticBearerToken(AuthBase):
    """Adds ``Authorization: Bearer <token>`` to every request (the emulator accepts any token)."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("The bearer token must not be empty.")
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "<StaticBearerToken ***>"


def build_session(
    credentials_file: str | None = None,
    *,
    token: str = "emulator",  # noqa: S107 - the emulator accepts any token; not a secret
    refresh_timeout: float = 30.0,
) -> requests.Session:
    """A session for the API: service-account credentials when ``credentials_file`` is set, else a
    static bearer ``token`` (for the emulator).

    ``refresh_timeout`` bounds the call to Google's token endpoint when the access token is refreshed.
    Raises ``CredentialsError`` if the key file cannot be read; the message names the file but never
    its content.
    """
    if credentials_file:
        from google.auth.transport.requests import AuthorizedSession
        from google.oauth2 import service_account

        try:
            credentials = service_account.Credentials.from_service_account_file(
                credentials_file, scopes=[SCOPE]
            )
        except (OSError, ValueError) as exc:
            # ValueError's text may quote the file's fields; keep only the kind of failure.
            raise CredentialsError(
                f"The service-account key file {credentials_file!r} could not be loaded "
                f"({type(exc).__name__})"
            ) from None
        session: requests.Session = AuthorizedSession(credentials, refresh_timeout=refresh_timeout)
    else:
        session = requests.Session()
        session.auth = StaticBearerToken(token)
    session.headers["User-Agent"] = USER_AGENT
    return session


def settle_environment(session: requests.Session, url: str) -> requests.Session:
    """Read the proxy and CA-bundle settings for ``url`` from the environment once, now.

    By default requests reads them again on every call (``trust_env``), which costs more than the
    rest of a call to a fast server; a client talks to one API root, so once is enough. Proxies
    (``HTTPS_PROXY``, ``NO_PROXY``...) and ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` are still obeyed.
    """
    session.proxies.update(requests.utils.get_environ_proxies(url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    session.trust_env = False
    return session
