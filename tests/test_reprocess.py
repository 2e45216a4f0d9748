"""Reprocessing: only the steps an image lacks under the current list (or all, forced), never a duplicate row."""

import pytest

from pipeline.api.actions import reprocess_request
from pipeline.contract import BlobRef
from pipeline.reprocess import reprocess
from tests.test_reconfiguration import restarted_with

NAMES = ["grace_hopper.jpg", "two_people.jpg", "page_of_text.png"]


def counts(runtime) -> dict[str, int]:
    tables = ["images", "faces", "face_index", "face_matches", "text_lines", "step_results"]
    return {table: runtime.database.query(f"SELECT COUNT(*) FROM {table}")[1][0][0] for table in tables}  # noqa: S608


def ok_runs(runtime) -> dict[str, int]:
    _, rows = runtime.database.query("SELECT step, COUNT(*) FROM step_runs WHERE status = 'ok' GROUP BY step")
    return dict(rows)


@pytest.fixture
def old_batch(runtime, azurite, samples):
    before = restarted_with(runtime, "normalize,faces,facematch,persist", azurite.connection_string)
    for name in NAMES:
        before.ingest(before.upload(samples / name, f"old/{name}"))
        before.run_all()
    return before


def test_adding_a_step_and_reprocessing_runs_just_that_step_and_leaves_one_set_of_rows(old_batch, azurite):
    before_counts, before_runs = counts(old_batch.runtime), ok_runs(old_batch.runtime)
    assert before_counts["text_lines"] == 0 and before_counts["face_matches"] == 1
    after = restarted_with(
        old_batch.runtime, "normalize,ocr,faces,facematch,persist", azurite.connection_string
    )

    assert reprocess(after.runtime, batch="old").as_dict() == {"queued": 3, "up_to_date": 0}
    after.run_all()
    runs = ok_runs(after.runtime)
    assert runs["ocr"] == 3 and runs["persist"] == before_runs["persist"] + 3
    assert (runs["normalize"], runs["faces"], runs["facematch"]) == (3, 3, 3)  # not run again
    now = counts(after.runtime)
    assert now["text_lines"] > 0
    assert {k: v for k, v in now.items() if k != "text_lines"} == {
        k: v for k, v in before_counts.items() if k != "text_lines"
    } | {"step_results": before_counts["step_results"] + 3}
    assert "coins" in after.image_row(ref("page_of_text.png"))["text"]

    assert reprocess(after.runtime, batch="old").as_dict() == {"queued": 0, "up_to_date": 3}


def ref(name: str) -> BlobRef:
    return BlobRef(container="images", name=f"old/{name}")


def test_forced_reprocess_runs_every_step_and_duplicates_nothing(old_batch, azurite):
    before = counts(old_batch.runtime)
    assert reprocess(old_batch.runtime, status="complete", force=True).as_dict() == {
        "queued": 3,
        "up_to_date": 0,
    }
    old_batch.run_all()
    assert ok_runs(old_batch.runtime)["normalize"] == 6
    assert counts(old_batch.runtime) == before
    for name in NAMES:
        assert old_batch.image_row(ref(name))["status"] == "complete"


def test_reprocess_refuses_an_unknown_status(runtime):
    with pytest.raises(ValueError, match="status must be one of"):
        reprocess(runtime, status="done")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "say which images"),
        ({"status": "done"}, "status must be one of"),
        ({"all": "maybe"}, "all must be true or false"),
        (
            {"batch": "x", "everything": True},
            "unknown parameter 'everything'; expected: batch, status, all, force, actor",
        ),
    ],
)
def test_reprocess_request_refuses_unclear_selections(runtime, params, message):
    status, body = reprocess_request(runtime, params)
    assert status == 400 and message in body["error"]


def test_reprocess_request_queues_the_selection(old_batch):
    assert reprocess_request(old_batch.runtime, {"all": "true", "force": True}) == (
        202,
        {"queued": 3, "up_to_date": 0},
    )
    old_batch.run_all()
    assert reprocess_request(old_batch.runtime, {"batch": "old"}) == (202, {"queued": 0, "up_to_date": 3})


@pytest.mark.timeout(120)
def test_operator_actions_over_http(runtime, host_env, tmp_path):
    import json
    import re
    import urllib.error
    import urllib.request

    from tests.pipeline_harness import start_host

    host = start_host(host_env, tmp_path / "host.log")
    try:
        port = re.search(r"http://127\.0\.0\.1:(\d+)/api/", (tmp_path / "host.log").read_text()).group(1)

        def post(route: str, body: bytes) -> tuple[int, dict]:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/api/{route}", data=body, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return response.status, json.loads(response.read())
            except urllib.error.HTTPError as error:
                return error.code, json.loads(error.read())

        assert post("reprocess", b"not json") == (400, {"error": "the body must be a JSON object"})
        assert post("forget", b"[1, 2]") == (400, {"error": "the body must be a JSON object"})
        assert post("reprocess", b'{"all": true}') == (202, {"queued": 0, "up_to_date": 0})
        assert post("forget", b'{"batch": "nobody"}') == (404, {"error": "no images in that batch"})
        status, body = post("replay-poison", b'{"step": "faces"}')
        assert (status, body) == (202, {"replayed": {"faces": 0}})
    finally:
        host.terminate()
        host.wait(timeout=30)
