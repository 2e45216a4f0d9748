"""Microsoft Entra ID for the local server: the tokens a tenant issues, and the App Service managed identity
endpoint that hands them to a Function App.

With ``IDENTITY_ENDPOINT`` and ``IDENTITY_HEADER`` set, azure-identity's ``ManagedIdentityCredential`` (and so
``DefaultAzureCredential``) asks the App Service endpoint for a token, through MSAL::

    GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=https://cognitiveservices.azure.com
    X-IDENTITY-HEADER: {IDENTITY_HEADER}

and expects ``{"access_token", "expires_on" (epoch seconds, a string), "resource", "token_type", "client_id"}``;
anything else (App Service answers ``{"statusCode", "message"}``) becomes a CredentialUnavailableError. The
scope ``https://cognitiveservices.azure.com/.default`` arrives as that resource, without ``/.default``.

Tokens are JWTs with Entra's claims (aud, iss, iat, nbf, exp, oid, tid, appid) signed with a key only this
server holds, so a token it did not issue fails the signature check as a forged Entra token would.
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from typing import Any

import jwt

from devhost.azure_vision.plumbing import Request, Response

logger = logging.getLogger(__name__)

COGNITIVE_SERVICES = "https://cognitiveservices.azure.com"
COGNITIVE_SERVICES_SCOPE = COGNITIVE_SERVICES + "/.default"
IDENTITY_PATH = "/msi/token"
IDENTITY_API_VERSION = "2019-08-01"
# Managed identity tokens are valid for about a day; MSAL refreshes them at half their life.
TOKEN_LIFETIME = 24 * 3600
ALGORITHM = "HS256"
# Query parameters that pick a user-assigned identity; the emulated app has its system-assigned one only.
IDENTITY_SELECTORS = ("client_id", "principal_id", "object_id", "mi_res_id")
# Environment variables that make DefaultAzureCredential sign in some other way (a service principal, workload
# identity, another managed identity source, a user-assigned identity) before or instead of this endpoint.
CREDENTIAL_OVERRIDES = (
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_USERNAME",
    "AZURE_PASSWORD",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_TOKEN_CREDENTIALS",
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
    "MSI_ENDPOINT",
    "MSI_SECRET",
)


class InvalidToken(Exception):
    """A bearer token that is malformed, not signed by this tenant, expired, or for another audience."""


class EntraTenant:
    """Issues and checks access tokens for one system-assigned identity, as Entra ID would."""

    def __init__(self, token_lifetime: int = TOKEN_LIFETIME) -> None:
        self.tenant_id = str(uuid.uuid4())
        self.client_id = str(uuid.uuid4())  # the identity's application id
        self.principal_id = str(uuid.uuid4())  # its object id, which role assignments name
        self.token_lifetime = token_lifetime
        self._signing_key = secrets.token_bytes(64)

    @property
    def issuer(self) -> str:
        return f"https://sts.windows.net/{self.tenant_id}/"

    def issue(self, resource: str, lifetime: int | None = None) -> tuple[str, int]:
        """A token for ``resource`` and its expiry (epoch seconds); a negative ``lifetime`` is expired."""
        now = int(time.time())
        expires_on = now + (self.token_lifetime if lifetime is None else lifetime)
        claims = {
            "aud": resource,
            "iss": self.issuer,
            "iat": now,
            "nbf": now,
            "exp": expires_on,
            "appid": self.client_id,
            "oid": self.principal_id,
            "sub": self.principal_id,
            "tid": self.tenant_id,
            "idtyp": "app",
            "ver": "1.0",
        }
        return jwt.encode(claims, self._signing_key, algorithm=ALGORITHM), expires_on

    def verify(self, token: str, audience: str = COGNITIVE_SERVICES) -> dict[str, Any]:
        """The token's claims, or :class:`InvalidToken` saying why it is refused."""
        try:
            return jwt.decode(
                token,
                self._signing_key,
                algorithms=[ALGORITHM],
                audience=[audience, audience + "/"],
                issuer=self.issuer,
                options={"require": ["aud", "iss", "exp", "nbf", "oid"]},
            )
        except jwt.InvalidTokenError as error:
            raise InvalidToken(f"{type(error).__name__}: {error}") from error


class ManagedIdentityEndpoint:
    """``GET /msi/token``: App Service's token endpoint, guarded by the ``X-IDENTITY-HEADER`` secret."""

    def __init__(self, tenant: EntraTenant, header: str) -> None:
        self.tenant = tenant
        self.header = header

    def token(self, request: Request) -> Response:
        if request.headers.get("X-IDENTITY-HEADER") != self.header:
            return _failure(401, "The X-IDENTITY-HEADER header is missing or invalid.")
        api_version = request.query.get("api-version", "")
        if api_version < IDENTITY_API_VERSION:
            return _failure(400, f"api-version {IDENTITY_API_VERSION} or later is required.")
        resource = request.query.get("resource", "").strip()
        if not resource:
            return _failure(400, "The resource parameter is required.")
        own = {self.tenant.client_id, self.tenant.principal_id}
        if any(request.query.get(name) not in (None, *own) for name in IDENTITY_SELECTORS):
            return _failure(400, "Unable to load the proper Managed Identity.")
        token, expires_on = self.tenant.issue(resource)
        body = {
            "access_token": token,
            "expires_on": str(expires_on),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": self.tenant.client_id,
        }
        return Response(200, body)


def _failure(status: int, message: str) -> Response:
    return Response(status, {"statusCode": status, "message": message, "correlationId": str(uuid.uuid4())})
