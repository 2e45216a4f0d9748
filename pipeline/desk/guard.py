"""What every desk response carries and what every desk POST must prove.

Responses: a Content-Security-Policy that lets a page load only the app's own scripts, styles and images
(no inline script or style, no other origin, no framing), ``nosniff``, no referrer, and no caching of pages.

Cross-site requests: a state-changing request is a POST whose ``X-Desk-Token`` header equals the desk's
token cookie (``SameSite=Strict``, ``HttpOnly``: another site can neither read it nor send it), the token
the page received in a ``<meta>`` tag; the browser's ``Sec-Fetch-Site`` must say ``same-origin`` and an
``Origin`` must be the app's own host, when the browser sends them. A form on another site can set none of
this, and a script on another site cannot send the custom header without a CORS preflight the app never
answers.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlsplit

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
PAGE_CACHE = "no-store"
# Photos and crops: kept by this browser only (never a shared cache), and not for long.
MEDIA_CACHE = "private, max-age=300"
TOKEN_HEADER = "x-desk-token"
_COOKIE = "desk-token"
# Over HTTPS the cookie takes the __Host- prefix: the browser then only accepts it Secure, for this host.
_SECURE_COOKIE = "__Host-desk-token"


class CrossSite(Exception):
    """A state-changing request that does not come from a desk page of this app (403)."""


def _header(headers: Mapping[str, str], name: str) -> str:
    return next((value for key, value in headers.items() if key.lower() == name), "")


def _https(url: str, headers: Mapping[str, str]) -> bool:
    return url.lower().startswith("https:") or _header(headers, "x-forwarded-proto").lower() == "https"


def _cookie_name(url: str, headers: Mapping[str, str]) -> str:
    return _SECURE_COOKIE if _https(url, headers) else _COOKIE


def token_of(url: str, headers: Mapping[str, str]) -> str | None:
    """The desk token the browser holds for this app, if any."""
    cookies = SimpleCookie()
    try:
        cookies.load(_header(headers, "cookie"))
    except CookieError:
        return None
    morsel = cookies.get(_cookie_name(url, headers))
    value = morsel.value if morsel is not None else ""
    return value if len(value) >= 32 else None


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_cookie(url: str, headers: Mapping[str, str], token: str) -> str:
    """The Set-Cookie value that gives the browser its desk token."""
    secure = "; Secure" if _https(url, headers) else ""
    return f"{_cookie_name(url, headers)}={token}; Path=/; HttpOnly; SameSite=Strict{secure}"


def check_same_origin(url: str, headers: Mapping[str, str]) -> None:
    """CrossSite unless the request carries the page's token and the browser says it is same-origin."""
    fetch_site = _header(headers, "sec-fetch-site").lower()
    if fetch_site and fetch_site != "same-origin":
        raise CrossSite(f"refused: a {fetch_site} request cannot change anything here")
    origin = _header(headers, "origin")
    if origin:
        hosts = {_header(headers, "host").lower(), _header(headers, "x-forwarded-host").lower()}
        hosts.add(urlsplit(url).netloc.lower())
        if urlsplit(origin).netloc.lower() not in hosts - {""}:
            raise CrossSite("refused: the request comes from another origin")
    held = token_of(url, headers)
    sent = _header(headers, TOKEN_HEADER)
    if held is None or not hmac.compare_digest(held.encode(), sent.encode()):
        raise CrossSite("refused: the page's desk token is missing or stale; reload the page")
