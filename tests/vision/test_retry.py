"""The retry policy for Azure calls, with the SDKs' real exception types and a fake clock."""

from __future__ import annotations

import email.utils
import json
import time

import pytest
import requests
from azure.cognitiveservices.vision.computervision import models as vision_models
from azure.cognitiveservices.vision.face import models as face_models
from msrest import Deserializer
from msrest.exceptions import ClientRequestError

from pipeline.errors import InputRejected, VisionServiceUnavailable
from pipeline.vision import retry
from pipeline.vision.retry import AzureRequestRejected, RetryPolicy

pytestmark = pytest.mark.timeout(30)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _deserializer(models) -> Deserializer:
    return Deserializer({name: value for name, value in vars(models).items() if isinstance(value, type)})


def response(
    status: int, body: dict | str | None = None, headers: dict | None = None, url: str = ""
) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer.reason = "Reason"
    answer.url = url
    text = body if isinstance(body, str) else json.dumps(body or {})
    answer._content = text.encode()
    answer.headers.update({"Content-Type": "application/json; charset=utf-8", **(headers or {})})
    return answer


def face_error(status: int, code: str = "", message: str = "", headers: dict | None = None):
    body = {"error": {"code": code or str(status), "message": message or "failed"}}
    url = "https://example.cognitiveservices.azure.com/face/v1.0/detect"
    return face_models.APIErrorException(_deserializer(face_models), response(status, body, headers, url))


def vision_error(status: int, body: dict, headers: dict | None = None):
    url = "https://example.cognitiveservices.azure.com/vision/v3.2/analyze"
    return vision_models.ComputerVisionErrorResponseException(
        _deserializer(vision_models), response(status, body, headers, url)
    )


class Script:
    """A callable that raises the given errors in turn, then returns ``result``."""

    def __init__(self, *errors: BaseException, result: object = "ok") -> None:
        self.errors = list(errors)
        self.calls = 0
        self.result = result

    def __call__(self) -> object:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.result


def policy(**overrides) -> tuple[RetryPolicy, FakeClock]:
    clock = FakeClock()
    # Deterministic "jitter": always the top of the window, so delays are 1, 2, 4, 8, 15 s.
    settings = {"clock": clock, "jitter": lambda low, high: high, **overrides}
    return RetryPolicy(**settings), clock


def test_success_needs_one_attempt():
    p, clock = policy()
    fn = Script()
    assert p.call("detect", fn) == "ok"
    assert fn.calls == 1 and clock.sleeps == []


def test_arguments_are_passed_through():
    p, _ = policy()
    assert p.call("add", lambda a, b=0: a + b, 2, b=3) == 5


def test_throttling_waits_what_the_service_asks():
    p, clock = policy()
    fn = Script(face_error(429, headers={"Retry-After": "3"}), face_error(429, headers={"Retry-After": "1"}))
    assert p.call("detect", fn) == "ok"
    assert fn.calls == 3 and clock.sleeps == [3.0, 1.0]


def test_retry_after_is_capped_and_milliseconds_are_understood():
    p, clock = policy(max_retry_after=20.0)
    fn = Script(
        face_error(429, headers={"Retry-After": "3600"}), face_error(429, headers={"retry-after-ms": "250"})
    )
    assert p.call("detect", fn) == "ok"
    assert clock.sleeps == [20.0, 0.25]


def test_retry_after_as_an_http_date():
    p, clock = policy()
    when = email.utils.formatdate(time.time() + 5, usegmt=True)
    p.call("detect", Script(face_error(429, headers={"Retry-After": when})))
    assert 3.0 <= clock.sleeps[0] <= 5.0


def test_throttling_without_retry_after_backs_off():
    p, clock = policy()
    p.call("detect", Script(face_error(429)))
    assert clock.sleeps == [1.0]


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_transient_statuses_back_off_exponentially(status):
    p, clock = policy()
    fn = Script(*(face_error(status) for _ in range(5)))
    assert p.call("detect", fn) == "ok"
    assert fn.calls == 6 and clock.sleeps == [1.0, 2.0, 4.0, 8.0, 15.0]


def test_jitter_is_full_jitter():
    windows = []
    p, _ = policy(jitter=lambda low, high: windows.append((low, high)) or 0.0)
    p.call("detect", Script(face_error(503), face_error(503), face_error(503)))
    assert windows == [(0.0, 1.0), (0.0, 2.0), (0.0, 4.0)]


def test_exhausted_retries_are_transient_for_the_queue():
    p, clock = policy()
    fn = Script(*(face_error(503, "ServiceUnavailable", "busy") for _ in range(10)))
    with pytest.raises(VisionServiceUnavailable) as error:
        p.call("detect", fn)
    assert not isinstance(error.value, InputRejected)
    assert fn.calls == 6 and len(clock.sleeps) == 5
    assert str(error.value).startswith("Azure Face detect unavailable after 6 attempt(s)")
    assert "HTTP 503 ServiceUnavailable: busy" in str(error.value)


def test_time_budget_bounds_the_retries():
    p, clock = policy(max_elapsed=10.0)
    fn = Script(*(face_error(500) for _ in range(10)))
    with pytest.raises(VisionServiceUnavailable):
        p.call("detect", fn)
    # 1 + 2 + 4 = 7 s slept; the next 8 s would pass the 10 s budget, so it stops there.
    assert clock.sleeps == [1.0, 2.0, 4.0] and fn.calls == 4


def test_throttling_that_outlasts_the_budget_is_transient():
    p, clock = policy(max_attempts=3)
    fn = Script(*(face_error(429, headers={"Retry-After": "2"}) for _ in range(5)))
    with pytest.raises(VisionServiceUnavailable, match="HTTP 429"):
        p.call("detect", fn)
    assert fn.calls == 3 and clock.sleeps == [2.0, 2.0]


@pytest.mark.parametrize(
    "error", [ClientRequestError("timed out"), requests.ConnectionError("refused"), TimeoutError()]
)
def test_connection_problems_are_retried(error):
    p, clock = policy()
    assert p.call("detect", Script(error)) == "ok"
    assert clock.sleeps == [1.0]


def test_face_client_errors_reject_the_input_at_once():
    p, clock = policy()
    fn = Script(face_error(400, "InvalidImage", "Decoding error, image format unsupported."))
    with pytest.raises(AzureRequestRejected) as error:
        p.call("detect", fn)
    assert isinstance(error.value, InputRejected)
    assert (
        str(error.value)
        == "Azure Face detect failed: HTTP 400 InvalidImage: Decoding error, image format unsupported."
    )
    assert (error.value.status, error.value.code) == (400, "InvalidImage")
    assert fn.calls == 1 and clock.sleeps == []


def test_invalid_key_names_401_and_the_services_message():
    p, _ = policy()
    message = "Access denied due to invalid subscription key or wrong API endpoint."
    with pytest.raises(
        InputRejected, match=r"^Azure Computer Vision analyze failed: HTTP 401 401: Access denied"
    ):
        p.call("analyze", Script(vision_error(401, {"error": {"code": "401", "message": message}})))


def test_computer_vision_inner_error_code_is_used():
    p, _ = policy()
    body = {
        "error": {
            "code": "InvalidRequest",
            "message": "Input data is not a valid image.",
            "innererror": {"code": "InvalidImageFormat", "message": "Input data is not a valid image."},
        }
    }
    with pytest.raises(AzureRequestRejected) as error:
        p.call("analyze", Script(vision_error(400, body)))
    assert (
        str(error.value)
        == "Azure Computer Vision analyze failed: HTTP 400 InvalidImageFormat: Input data is not a valid image."
    )


def test_older_flat_error_shape_and_non_json_bodies():
    p, _ = policy()
    flat = face_models.APIErrorException(
        _deserializer(face_models), response(403, {"statusCode": 403, "message": "Out of call volume quota."})
    )
    with pytest.raises(AzureRequestRejected, match=r"HTTP 403 403: Out of call volume quota\."):
        p.call("detect", Script(flat))
    html = face_models.APIErrorException(_deserializer(face_models), response(404, "<html>Not Found</html>"))
    with pytest.raises(AzureRequestRejected, match=r"HTTP 404 404: <html>Not Found</html>"):
        p.call("detect", Script(html))


def test_busy_conflicts_are_retried_but_real_conflicts_are_not():
    p, clock = policy()
    assert p.call("find similar", Script(face_error(409, "LargeFaceListTrainingNotFinished"))) == "ok"
    assert clock.sleeps == [1.0]
    with pytest.raises(AzureRequestRejected) as error:
        p.call("create large face list", Script(face_error(409, "LargeFaceListExists")))
    assert error.value.status == 409 and error.value.code == "LargeFaceListExists"


def test_other_exceptions_propagate_untouched():
    p, clock = policy()
    with pytest.raises(ValueError, match="a bug"):
        p.call("detect", Script(ValueError("a bug")))
    assert clock.sleeps == []


def test_disable_sdk_retries_leaves_every_decision_to_the_policy():
    from azure.cognitiveservices.vision.face import FaceClient
    from msrest.authentication import CognitiveServicesCredentials

    client = FaceClient("https://example.invalid", CognitiveServicesCredentials("k"))
    installed = client.config.retry_policy()  # already on the session the client made for this thread
    retry.disable_sdk_retries(client)
    urllib3_retry = client.config.retry_policy()
    assert urllib3_retry is installed  # changed in place, so that session sends once too
    assert urllib3_retry.total == 0
    assert not urllib3_retry.status_forcelist
    assert not urllib3_retry.respect_retry_after_header
    assert not urllib3_retry.is_retry("POST", 503, has_retry_after=True)
    assert not urllib3_retry.is_retry("POST", 429, has_retry_after=True)


def test_a_malformed_endpoint_is_not_retried():
    p, clock = policy()
    with pytest.raises(requests.exceptions.MissingSchema) as malformed:
        requests.get("cognitiveservices-without-scheme")
    with pytest.raises(ClientRequestError):
        p.call("detect", Script(ClientRequestError("Error occurred in request.", malformed.value)))
    assert clock.sleeps == []


def test_unreachable_service_is_named_from_the_url():
    p, _ = policy(max_attempts=2)
    with pytest.raises(requests.exceptions.ConnectionError) as refused:
        requests.post("http://127.0.0.1:9/face/v1.0/detect", timeout=2)
    error = ClientRequestError("Error occurred in request.", refused.value)
    with pytest.raises(
        VisionServiceUnavailable, match=r"^Azure Face detect unavailable after 2 attempt\(s\)"
    ):
        p.call("detect", Script(error, error))
