"""A plain HTTP client for the desk: what a browser sends (the desk token cookie and header), or less."""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

TOKEN_META = re.compile(r'<meta name="desk-token" content="([^"]+)">')


def principal_headers(name: str, *roles: str) -> dict[str, str]:
    """The headers App Service Authentication adds for a signed-in user with these app roles."""
    claims = [{"typ": "name", "val": name}] + [{"typ": "roles", "val": role} for role in roles]
    document = {"auth_typ": "aad", "claims": claims, "name_typ": "name", "role_typ": "roles"}
    encoded = base64.b64encode(json.dumps(document).encode()).decode()
    return {"X-MS-CLIENT-PRINCIPAL": encoded, "X-MS-CLIENT-PRINCIPAL-NAME": name}


@dataclass
class Response:
    status: int
    headers: Any
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


@dataclass
class DeskClient:
    base: str
    headers: dict[str, str] = field(default_factory=dict)
    cookie: str | None = None
    token: str | None = None

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Response:
        sent = {**self.headers, **(headers or {})}
        if self.cookie:
            sent.setdefault("Cookie", self.cookie)
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return Response(answer.status, answer.headers, answer.read())
        except urllib.error.HTTPError as error:
            return Response(error.code, error.headers, error.read())

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def sign_in_page(self, path: str = "/") -> Response:
        """Load a page as a browser does, keeping the token cookie it sets and the token of its <meta>."""
        page = self.get(path)
        cookie = page.headers.get("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        found = TOKEN_META.search(page.text)
        self.token = found.group(1) if found else None
        return page

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> Response:
        """A POST as the desk's script sends it: same origin, the page's token in X-Desk-Token."""
        sent = {"Content-Type": "application/json", "Sec-Fetch-Site": "same-origin", "Origin": self.base}
        if self.token:
            sent["X-Desk-Token"] = self.token
        return self.request("POST", path, body, {**sent, **(headers or {})})
