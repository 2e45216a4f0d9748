import base64
import uuid

import pytest

from pipeline.claimcheck import QUEUE_MESSAGE_LIMIT, ClaimCheck, encoded_size
from pipeline.contract import JobMessage, StepResult, utc_now
from pipeline.errors import MessageTooLarge
from tests.test_contract import make_job


def test_limit_is_the_storage_queue_limit_after_base64():
    assert QUEUE_MESSAGE_LIMIT == 65536
    for text in ("", "a", "ab", "abc", "é" * 1000, "x" * 49152):
        assert encoded_size(text) == len(base64.b64encode(text.encode("utf-8")))


def job_with_outputs(**sizes: int) -> JobMessage:
    job = make_job(pipeline=[*sizes, "persist"])
    for step, size in sizes.items():
        output = {"blob": "x" * size}
        job = job.advanced(StepResult(step=step, attempt=1, finished_at=utc_now(), output=output))
    return job


def test_small_message_stays_inline(runtime):
    job = job_with_outputs(normalize=1000)
    assert ClaimCheck(runtime.storage).encode(job) == job.encode()
    assert runtime.storage.list_names("claims") == []


def test_largest_outputs_move_first_and_only_until_it_fits(runtime):
    job = job_with_outputs(normalize=20_000, faces=40_000, ocr=10_000)
    claims = ClaimCheck(runtime.storage)
    text = claims.encode(job)
    assert encoded_size(text) <= QUEUE_MESSAGE_LIMIT
    encoded = JobMessage.model_validate_json(text)
    assert encoded.results["faces"].output_ref is not None
    assert encoded.results["normalize"].output is not None and encoded.results["ocr"].output is not None
    assert claims.output(encoded, "faces") == job.results["faces"].output
    assert runtime.storage.list_names("claims") == [f"{job.image_id}/{job.job_id}/faces.json"]


def test_a_message_too_large_even_without_outputs_is_refused(runtime):
    job = make_job(batch_id="b" * 200).model_copy(update={"job_id": uuid.uuid4()})
    with pytest.raises(MessageTooLarge, match="queue limit is 100"):
        ClaimCheck(runtime.storage, limit=100).encode(job)
