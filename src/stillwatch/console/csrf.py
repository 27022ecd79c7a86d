"""CSRF protection for every state-changing console request.

Two independent checks, both required for ``POST``:

1. **Fetch metadata / origin.** A browser that sends ``Sec-Fetch-Site`` must say ``same-origin``
   (or ``none`` for a user-typed navigation); a request with an ``Origin`` header must come from
   this server's own origin. Cross-site form posts fail here even before the token is looked at.
2. **Synchronizer token.** Every form carries ``csrf_token``, the per-session secret kept inside
   the signed session cookie; it is compared in constant time. The login form, which has no
   session yet, uses a double-submit token: a random value in a short-lived HttpOnly cookie and
   the same value in the form.

The session cookie is also ``SameSite=Strict``, so a cross-site request does not carry it.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from fastapi import Request

from stillwatch.exceptions import PermissionDeniedError

FIELD = "csrf_token"
_ALLOWED_SITES = frozenset({"same-origin", "none"})


class CsrfError(PermissionDeniedError):
    """A state-changing request failed the CSRF checks (HTTP 403)."""


def _own_origin(request: Request) -> str:
    host = request.headers.get("host") or (request.url.netloc or "")
    return f"{request.url.scheme}://{host}".lower()


def check_origin(request: Request) -> None:
    """Refuse cross-site requests by ``Sec-Fetch-Site``, else by ``Origin``.

    ``Sec-Fetch-Site`` is set by the browser and cannot be forged by a page, so when it is present
    it decides (as in Go's ``CrossOriginProtection``). Without it, an ``Origin`` header must name
    this server; ``Origin: null`` (opaque origins) is refused. Clients that send neither (curl,
    tests) are left to the synchronizer token.

    Raises:
        CsrfError: If the browser says the request is cross-site or from another origin.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        if site.lower() not in _ALLOWED_SITES:
            raise CsrfError("cross-site request refused", hint="use the console's own forms")
        return
    origin = request.headers.get("origin")
    if origin is None:
        return
    if origin.lower() == "null":
        raise CsrfError("request from an opaque origin refused")
    parts = urlsplit(origin)
    if f"{parts.scheme}://{parts.netloc}".lower() != _own_origin(request):
        raise CsrfError("request from another origin refused", hint="use the console's own forms")


def check_token(expected: str | None, sent: str | None) -> None:
    """Compare the form's token with the session's, in constant time.

    Raises:
        CsrfError: If either is missing or they differ.
    """
    if not expected or not sent or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise CsrfError("missing or wrong CSRF token", hint="reload the page and submit the form again")
