"""One retry policy for every call to an Azure vision service.

* HTTP 429: wait what the service asks (``retry-after-ms``/``Retry-After``, capped), then try again.
* HTTP 408, 500, 502, 503, 504, a 409 that only says "busy" (training not finished, concurrent
  operation), timeouts and connection errors: exponential backoff with full jitter.
* Both are bounded by a number of attempts and a time budget; past either the call raises
  :class:`~pipeline.errors.VisionServiceUnavailable`, which the queue treats as transient.
* Any other HTTP error (400 InvalidImage, 401 invalid key, 403, 404…) cannot be fixed by trying again:
  it raises :class:`AzureRequestRejected` (an :class:`~pipeline.errors.InputRejected`) naming the service,
  the operation, the status and the service's own error code and message, so the job fails with that
  reason and nothing from the failed call is stored as a result.

The msrest-based SDKs retry on their own (urllib3 ``Retry``, 3 attempts, also on 5xx); :func:`disable_sdk_retries`
turns that off so this policy is the only one. Sleeping goes through an injectable :class:`Clock`. A policy
with a ``pacer`` (:mod:`pipeline.vision.ratelimit`) spaces every attempt to stay under the account's rate.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from pipeline.errors import InputRejected, VisionServiceUnavailable

logger = logging.getLogger("pipeline.vision.retry")

T = TypeVar("T")

TRANSIENT_STATUSES = frozenset({408, 500, 502, 503, 504})
# 409 codes that mean "busy right now", not "conflicting request": retried like a 503.
TRANSIENT_CONFLICT_CODES = frozenset(
    {
        "ConcurrentOperationConflict",
        "LargeFaceListTrainingNotFinished",
        "LargePersonGroupTrainingNotFinished",
        "PersonGroupTrainingNotFinished",
    }
)


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class Pacer(Protocol):
    """Spaces the requests to one account (:class:`pipeline.vision.ratelimit.Limiter`: this process's own
    pace, or a budget shared by every instance)."""

    def acquire(self) -> float: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class AzureRequestRejected(InputRejected):
    """A request the service refused for a reason no retry can fix; the job fails with this message."""

    def __init__(self, service: str, operation: str, status: int, code: str, message: str) -> None:
        self.service = service
        self.operation = operation
        self.status = status
        self.code = code
        self.service_message = message
        super().__init__(f"Azure {service} {operation} failed: HTTP {status} {code}: {message}")


@dataclass(frozen=True)
class HttpFailure:
    """What an SDK exception says about the HTTP exchange that failed."""

    service: str
    status: int
    code: str
    message: str
    retry_after: float | None


def disable_sdk_retries(client: Any) -> Any:
    """Make an msrest-based client send every request exactly once and hand back every response.

    No retry on connection errors, none on status codes, no waiting on ``Retry-After``: this module decides.
    The client's urllib3 ``Retry`` is changed in place, because the client installed that very object on
    the session it created for the constructing thread (sessions of other threads get it when created).
    """
    retry_policy = client.config.retry_policy
    retry_policy.retries = 0  # total, connect and read
    policy = retry_policy.policy
    policy.status = 0
    policy.other = 0
    policy.status_forcelist = frozenset()
    policy.respect_retry_after_header = False
    policy.raise_on_status = False
    policy.raise_on_redirect = False
    return client


def _service_name(error: BaseException, url: str) -> str:
    module = type(error).__module__
    if ".face" in module or "/face/" in url.lower():
        return "Face"
    if ".computervision" in module or "/vision/" in url.lower():
        return "Computer Vision"
    return "Cognitive Services"


def _parse_retry_after(headers: Any, now: float | None = None) -> float | None:
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 1000.0), ("x-ms-retry-after-ms", 1000.0)):
        value = headers.get(name)
        if value:
            try:
                return max(0.0, float(value) / scale)
            except ValueError:
                pass
    value = headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment is None:
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def _error_fields(response: Any) -> tuple[str, str]:
    """The service's own error code and message from a response body, in either of Azure's shapes."""
    try:
        body = json.loads(response.text or "{}")
    except (ValueError, AttributeError, TypeError):
        body = None
    code, message = "", ""
    if isinstance(body, dict):
        error = body.get("error") if isinstance(body.get("error"), dict) else body
        inner = error.get("innererror") if isinstance(error.get("innererror"), dict) else {}
        code = str(inner.get("code") or error.get("code") or error.get("statusCode") or "")
        message = str(inner.get("message") or error.get("message") or "")
    if not message:
        text = (getattr(response, "text", "") or "").strip()
        message = text[:300] if text else (getattr(response, "reason", "") or "no error message")
    return code or str(getattr(response, "status_code", "")), message


def describe_http_error(error: BaseException) -> HttpFailure | None:
    """Status, code, message and Retry-After of an msrest ``HttpOperationError``; None for anything else."""
    from msrest.exceptions import HttpOperationError

    if not isinstance(error, HttpOperationError):
        return None
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    if response is None or status is None:
        return None
    url = str(getattr(response, "url", "") or "")
    code, message = _error_fields(response)
    return HttpFailure(
        service=_service_name(error, url),
        status=int(status),
        code=code,
        message=message,
        retry_after=_parse_retry_after(getattr(response, "headers", None)),
    )


def _is_connection_problem(error: BaseException) -> bool:
    """Timeouts, refused or dropped connections; not a malformed endpoint URL, which no retry fixes."""
    from msrest.exceptions import ClientRequestError
    from requests import exceptions as http

    malformed = (
        http.MissingSchema,
        http.InvalidSchema,
        http.InvalidURL,
        http.InvalidHeader,
        http.URLRequired,
    )
    if isinstance(error, ClientRequestError):
        return not isinstance(getattr(error, "inner_exception", None), malformed)
    if isinstance(error, malformed):
        return False
    transient = (http.ConnectionError, http.Timeout, http.ChunkedEncodingError, ConnectionError, TimeoutError)
    return isinstance(error, transient)


@dataclass
class RetryPolicy:
    """Attempts, time budget and backoff for one logical call (see the module docstring)."""

    max_attempts: int = 6
    max_elapsed: float = 60.0
    base_delay: float = 1.0
    max_delay: float = 15.0
    max_retry_after: float = 20.0
    clock: Clock = field(default_factory=SystemClock)
    jitter: Callable[[float, float], float] = random.uniform
    # Every attempt, retries included, waits for its slot here before the request goes out.
    pacer: Pacer | None = None

    def backoff(self, retry_number: int) -> float:
        """Full jitter: uniform in [0, min(max_delay, base_delay * 2**retry_number)]."""
        return self.jitter(0.0, min(self.max_delay, self.base_delay * (2**retry_number)))

    def call(self, operation: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` under this policy.

        ``fn`` runs once per attempt, so anything it consumes (an upload stream) must be created inside it.
        """
        started = self.clock.monotonic()
        last: BaseException | None = None
        reason, service, attempt = "", "Cognitive Services", 0
        for attempt in range(1, max(1, self.max_attempts) + 1):
            if self.pacer is not None:
                self.pacer.acquire()
            try:
                return fn(*args, **kwargs)
            except Exception as error:
                failure = describe_http_error(error)
                if failure is not None:
                    transient = failure.status in TRANSIENT_STATUSES or (
                        failure.status == 409 and failure.code in TRANSIENT_CONFLICT_CODES
                    )
                    if failure.status != 429 and not transient:
                        raise AzureRequestRejected(
                            failure.service, operation, failure.status, failure.code, failure.message
                        ) from error
                    reason = f"HTTP {failure.status} {failure.code}: {failure.message}"
                    service = failure.service
                    if failure.status == 429 and failure.retry_after is not None:
                        delay = min(failure.retry_after, self.max_retry_after)
                    else:
                        delay = self.backoff(attempt - 1)
                elif _is_connection_problem(error):
                    reason = f"{type(error).__name__}: {error}"
                    service = _service_name(error, f"{error} {getattr(error, 'inner_exception', '')}")
                    delay = self.backoff(attempt - 1)
                else:
                    raise
                last = error
            elapsed = self.clock.monotonic() - started
            if attempt >= self.max_attempts or elapsed + delay > self.max_elapsed:
                break
            logger.warning(
                "Azure %s %s: attempt %d failed (%s); retrying in %.2f s",
                service,
                operation,
                attempt,
                reason,
                delay,
            )
            self.clock.sleep(delay)
        elapsed = self.clock.monotonic() - started
        raise VisionServiceUnavailable(
            f"Azure {service} {operation} unavailable after {attempt} attempt(s) in {elapsed:.1f} s: {reason}"
        ) from last
