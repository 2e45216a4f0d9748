import json
import uuid
from pathlib import Path

import pytest

from pipeline.contract import (
    SCHEMA_PATH,
    BlobRef,
    JobMessage,
    StepResult,
    decode_message,
    job_message_schema,
    utc_now,
)
from pipeline.errors import InvalidMessage

ROOT = Path(__file__).resolve().parent.parent


def make_job(**changes) -> JobMessage:
    fields = {
        "job_id": uuid.uuid4(),
        "image_id": uuid.uuid4(),
        "batch_id": "batch-1",
        "trace_id": uuid.uuid4().hex,
        "image": BlobRef(container="images", name="batch-1/photo.jpg"),
        "pipeline": ["normalize", "faces", "persist"],
        "position": 0,
        "created_at": utc_now(),
    }
    fields.update(changes)
    return JobMessage(**fields)


def result(step: str, **output) -> StepResult:
    return StepResult(step=step, attempt=1, finished_at=utc_now(), output=output)


def test_round_trip_keeps_every_field():
    job = make_job().advanced(result("normalize", width=10))
    again = decode_message(job.encode().encode("utf-8"))
    assert again == job
    assert again.current_step == "faces"
    assert again.next_step == "persist"


def test_advanced_refuses_a_result_of_another_step():
    with pytest.raises(ValueError, match="cannot complete step 'normalize'"):
        make_job().advanced(result("faces"))


def test_last_step_cannot_advance():
    job = make_job(pipeline=["normalize", "persist"], position=1, results={"normalize": result("normalize")})
    assert job.next_step is None
    with pytest.raises(ValueError, match="last step"):
        job.advanced(result("persist"))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"{not json", "not JSON"),
        (b"[1, 2]", "must be a JSON object, got list"),
        (b'{"job_id": "x"}', "no schema_version"),
        (b'{"schema_version": 2}', "unsupported schema_version 2; this pipeline reads versions 1"),
        (b'{"schema_version": "1"}', "unsupported schema_version '1'"),
        (b'{"schema_version": 1, "job_id": "x"}', "does not match the job contract"),
    ],
)
def test_undecodable_messages_say_why(body, reason):
    with pytest.raises(InvalidMessage, match=reason.replace("(", r"\(")):
        decode_message(body)


def _with(job: JobMessage, **overrides) -> bytes:
    document = json.loads(job.encode())
    document.update(overrides)
    return json.dumps(document).encode()


def test_image_must_be_in_our_images_container_never_a_url_or_another_account():
    job = make_job()
    for image in (
        {"container": "secrets", "name": "a.jpg"},
        {"container": "images", "name": "a.jpg", "account": "evil"},
        {"url": "http://169.254.169.254/metadata"},
        {"container": "working", "name": "a.jpg"},
    ):
        with pytest.raises(InvalidMessage, match="image"):
            decode_message(_with(job, image=image))


def test_unknown_top_level_fields_are_refused():
    with pytest.raises(InvalidMessage, match="Extra inputs are not permitted"):
        decode_message(_with(make_job(), image_url="https://example.org/x.jpg"))


def test_position_and_results_must_agree_with_the_pipeline():
    job = make_job()
    with pytest.raises(InvalidMessage, match="past the end"):
        decode_message(_with(job, position=3))
    with pytest.raises(InvalidMessage, match="results for steps not yet run: faces"):
        decode_message(_with(job, results={"faces": json.loads(result("faces").model_dump_json())}))
    with pytest.raises(InvalidMessage, match="lists a step twice"):
        decode_message(_with(job, pipeline=["faces", "faces", "persist"]))


def test_step_result_holds_output_or_claim_check_not_both():
    with pytest.raises(ValueError, match="exactly one"):
        StepResult(step="faces", attempt=1, finished_at=utc_now())
    with pytest.raises(ValueError, match="claims"):
        StepResult(
            step="faces", attempt=1, finished_at=utc_now(), output_ref=BlobRef(container="images", name="x")
        )


def test_committed_json_schema_matches_the_model():
    committed = json.loads((ROOT / SCHEMA_PATH).read_text(encoding="utf-8"))
    assert committed == job_message_schema(), "run `make schema` and commit schemas/"
