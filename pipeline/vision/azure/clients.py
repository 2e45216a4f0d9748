"""``AzureAccounts``: the SDK clients, the sign-in and the request pacing for one pair of accounts.

Built once by the :class:`~pipeline.runtime.Runtime` from the settings and shared by the azure provider and
the LargeFaceList, so every worker thread of the process uses one client per account and one pacer per
endpoint. Requests are signed with the account key (``VISION_AUTH=key``) or with a Microsoft Entra ID token
(``VISION_AUTH=identity``: the app's managed identity in Azure, ``az login`` on an operator's machine),
fetched through ``azure-identity`` and renewed before it expires.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

from msrest.authentication import Authentication, CognitiveServicesCredentials

from pipeline.settings import AzureVisionSettings, VisionAuth
from pipeline.vision import retry
from pipeline.vision.ratelimit import RateLimiters
from pipeline.vision.retry import RetryPolicy

# Seconds a single HTTP request may take before it counts as a (retried) timeout.
REQUEST_TIMEOUT = 30
COGNITIVE_SERVICES_SCOPE = "https://cognitiveservices.azure.com/.default"
# Renew a token this long before it expires, so no request leaves with one about to lapse.
TOKEN_RENEWAL_MARGIN = 300


class EntraTokenCredentials(Authentication):
    """msrest credentials that sign each request with a bearer token from an ``azure-identity`` credential."""

    def __init__(self, credential: Any, scope: str = COGNITIVE_SERVICES_SCOPE) -> None:
        super().__init__()
        self._credential = credential
        self._scope = scope
        self._token: Any = None
        self._lock = threading.Lock()

    def _bearer(self) -> str:
        with self._lock:
            if self._token is None or self._token.expires_on - TOKEN_RENEWAL_MARGIN <= time.time():
                self._token = self._credential.get_token(self._scope)
            return self._token.token

    def signed_session(self, session: Any = None) -> Any:
        session = super().signed_session(session)
        session.headers["Authorization"] = f"Bearer {self._bearer()}"
        return session


def endpoint_url(url: str) -> str:
    return url.strip().rstrip("/")


class AzureAccounts:
    """The Computer Vision and Face accounts of one :class:`AzureVisionSettings`."""

    def __init__(
        self,
        settings: AzureVisionSettings,
        retry_policy: RetryPolicy | None = None,
        limiters: RateLimiters | None = None,
        credential: Any = None,
    ) -> None:
        self.settings = settings
        self.limiters = limiters or RateLimiters()
        policy = retry_policy or RetryPolicy()
        self.vision_retry = self._paced(policy, settings.vision_endpoint, settings.vision_rate_limit)
        self.face_retry = self._paced(policy, settings.face_endpoint, settings.face_rate_limit)
        # Face lists already found or created by this process: ensure() costs one request per list.
        self.ensured_lists: set[str] = set()
        # Clients are built here, before any thread shares them; building one sends no request.
        from azure.cognitiveservices.vision.computervision import ComputerVisionClient
        from azure.cognitiveservices.vision.face import FaceClient

        if settings.auth is VisionAuth.IDENTITY:
            vision_credentials = face_credentials = EntraTokenCredentials(credential or _default_credential())
        else:
            vision_credentials = CognitiveServicesCredentials(settings.vision_key)
            face_credentials = CognitiveServicesCredentials(settings.face_key)
        self.vision = _configured(
            ComputerVisionClient(endpoint_url(settings.vision_endpoint), vision_credentials)
        )
        self.face = _configured(FaceClient(endpoint_url(settings.face_endpoint), face_credentials))

    @classmethod
    def of(
        cls, accounts: AzureAccounts | AzureVisionSettings, retry_policy: RetryPolicy | None = None
    ) -> AzureAccounts:
        """``accounts`` itself, or new accounts for settings (with their own clients and pacers)."""
        if isinstance(accounts, AzureAccounts):
            if retry_policy is not None:
                raise ValueError("a retry policy is given with the settings, not with shared accounts")
            return accounts
        return cls(accounts, retry_policy)

    def _paced(self, policy: RetryPolicy, endpoint: str, rate: float | None) -> RetryPolicy:
        """The policy with this process's pacer for the endpoint, unless the caller already gave it one."""
        if policy.pacer is not None:
            return policy
        pacer = self.limiters.for_endpoint(endpoint_url(endpoint), rate)
        return policy if pacer is None else dataclasses.replace(policy, pacer=pacer)


def _default_credential() -> Any:
    from azure.identity import DefaultAzureCredential

    # Managed identity in Azure; environment, workload identity or `az login` elsewhere.
    return DefaultAzureCredential(exclude_interactive_browser_credential=True)


def _configured(client: Any) -> Any:
    retry.disable_sdk_retries(client)
    client.config.connection.timeout = REQUEST_TIMEOUT
    return client
