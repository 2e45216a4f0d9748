"""Who may call the /vision and /face routes: an account key, or a Microsoft Entra ID bearer token.

Azure's answers, which the SDKs surface to the pipeline:

* a wrong or missing key: 401, ``Access denied due to invalid subscription key ...``;
* a bearer token that is missing (keys disabled), malformed, forged, expired or for another audience: 401,
  ``Unauthorized. Access token is missing, invalid, audience is incorrect (...), or have expired.``;
* a key sent to an account with ``disableLocalAuth: true``: 403 ``AuthenticationTypeDisabled``.

A request carrying a key is judged by its key, as Azure does; only a request without one by its token.
"""

from __future__ import annotations

import logging

from devhost.azure_vision.identity import COGNITIVE_SERVICES, EntraTenant, InvalidToken
from devhost.azure_vision.plumbing import ApiError, Request

logger = logging.getLogger(__name__)

KEY_HEADER = "Ocp-Apim-Subscription-Key"
INVALID_KEY = ApiError(
    401,
    "401",
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key "
    "for an active subscription and use a correct regional API endpoint for your resource.",
)
INVALID_TOKEN = ApiError(
    401,
    "401",
    f"Unauthorized. Access token is missing, invalid, audience is incorrect ({COGNITIVE_SERVICES}), "
    "or have expired.",
)
KEYS_DISABLED = ApiError(
    403, "AuthenticationTypeDisabled", "Key based authentication is disabled for this resource."
)


class Authentication:
    """The account's credentials: its key (unless local auth is disabled) and the tenant's tokens."""

    def __init__(self, key: str | None, tenant: EntraTenant, local_auth: bool = True) -> None:
        if local_auth and not key:
            raise ValueError("a key is needed unless local (key) authentication is disabled")
        self.key = key
        self.tenant = tenant
        self.local_auth = local_auth

    def refusal(self, request: Request) -> ApiError | None:
        """Why the request is refused, or None when its credential is good."""
        key = request.headers.get(KEY_HEADER)
        if key is not None:
            if not self.local_auth:
                return KEYS_DISABLED
            return None if key == self.key else INVALID_KEY
        scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return INVALID_KEY if self.local_auth else INVALID_TOKEN
        try:
            self.tenant.verify(token.strip())
        except InvalidToken as error:
            logger.info("%s %s: bearer token refused (%s)", request.method, request.path, error)
            return INVALID_TOKEN
        return None
