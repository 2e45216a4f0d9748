"""Every kind of the hostile-input catalogue (tests/hostile.py) ends as catalogued: through the real step
handlers one queue hop at a time, and all together through the local Functions host."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.queue import QueueServiceClient
from PIL import Image

from pipeline.artifacts import claim_ref
from pipeline.contract import FACES_CONTAINER, IMAGES_CONTAINER, BlobRef, decode_message
from pipeline.db import Database
from pipeline.ids import image_id_for
from pipeline.imaging import WORKING_MAX_BYTES, WORKING_MAX_SIDE
from pipeline.routing import poison_queue_name, queue_name
from pipeline.runtime import Runtime
from pipeline.uploads import wait_for
from tests.conftest import fresh_runtime
from tests.hostile import IMAGE_CASES, MESSAGE_CASES, PIPELINE, ImageCase, MessageCase, base_job
from tests.pipeline_harness import ROOT, Harness, start_host

NOT_BASE64 = "%%% this is not base64 %%%"  # the host cannot decode it, so no function ever sees it
QUEUE_LIMIT_TEXT = 48 * 1024 + 1  # base64 makes it 64 KiB + 4 bytes: over the Storage queue limit


@dataclass
class Outbound:
    """A local HTTP listener that hostile inputs point at: the pipeline must never call it."""

    url: str
    hits: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def outbound() -> Iterator[Outbound]:
    listener = Outbound(url="")

    class Recorder(BaseHTTPRequestHandler):
        def _record(self) -> None:
            listener.hits.append(f"{self.command} {self.path}")
            self.send_response(200)
            self.end_headers()

        do_GET = do_HEAD = do_POST = do_PUT = _record

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    listener.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield listener
    server.shutdown()


def upload_catalogue(harness: Harness, samples: Path, outbound: Outbound, batch: str) -> dict[str, BlobRef]:
    refs = {}
    for case in IMAGE_CASES:
        ref = BlobRef(container=IMAGES_CONTAINER, name=f"{batch}/{case.name}")
        harness.runtime.storage.write(ref, case.build(samples, outbound.url), "application/octet-stream")
        refs[case.kind] = ref
    return refs


def send_messages(harness: Harness, outbound: Outbound, batch: str) -> None:
    job = base_job(batch)
    for case in MESSAGE_CASES:
        harness.send_raw(queue_name(case.step), case.build(job, outbound.url))


def image_problems(case: ImageCase, row: dict) -> list[str]:
    """How an image's v_images row differs from its catalogued outcome (empty when it matches)."""
    problems = []
    if row["status"] != case.status:
        problems.append(f"status {row['status']!r}, expected {case.status!r} (error: {row['error']})")
    elif case.status == "failed":
        if row["failed_step"] != "normalize":
            problems.append(f"failed at {row['failed_step']!r}, expected 'normalize'")
        if case.reason not in (row["error"] or ""):
            problems.append(f"error {row['error']!r} does not say {case.reason!r}")
    elif row["error"] is not None or (case.faces is not None and row["face_count"] != case.faces):
        problems.append(f"face_count {row['face_count']} (expected {case.faces}), error {row['error']!r}")
    return problems


def rejection_problems(case: MessageCase, runtime: Runtime, batch: str, outbound: Outbound) -> list[str]:
    """How the set-aside record of a message differs from its catalogued outcome (empty when it matches)."""
    body = case.build(base_job(batch), outbound.url).decode("utf-8", errors="replace")
    _, rows = runtime.database.query(
        "SELECT queue_name, reason FROM rejected_messages WHERE body_excerpt = ?", [body[:2000]]
    )
    if len(rows) != 1 or rows[0][0] != queue_name(case.step) or case.reason not in rows[0][1]:
        return [
            f"rejected_messages rows {rows}, expected one on {queue_name(case.step)} saying {case.reason!r}"
        ]
    return []


def poisoned(queues: QueueServiceClient, step: str) -> list[str]:
    """Every message in a step's poison queue, as stored (the host's base64 form)."""
    client = queues.get_queue_client(poison_queue_name(queue_name(step)))
    return [message.content for message in client.peek_messages(max_messages=32)]


def decoded(content: str) -> str:
    return base64.b64decode(content).decode("utf-8", errors="replace")


# -- one hop at a time, through the real step handlers ------------------------------------------------------


@dataclass
class CatalogueRun:
    harness: Harness
    refs: dict[str, BlobRef]
    outbound: Outbound


@pytest.fixture(scope="module")
def run(azurite, samples, outbound, tmp_path_factory) -> Iterator[CatalogueRun]:
    database = tmp_path_factory.mktemp("hostile") / "imaginem.db"
    runtime = fresh_runtime(
        azurite, f"Driver=SQLite3;Database={database};Timeout=30000", pipeline_steps=",".join(PIPELINE)
    )
    harness = Harness(runtime, azurite.connection_string)
    refs = upload_catalogue(harness, samples, outbound, "hostile")
    for case in IMAGE_CASES:
        harness.ingest(refs[case.kind])
        if case.deleted_before_run:
            runtime.storage.delete(refs[case.kind])
    send_messages(harness, outbound, "hostile")
    harness.run_all()  # a handler that raised would raise here: no input may crash a step
    yield CatalogueRun(harness, refs, outbound)
    runtime.database.close()


@pytest.mark.parametrize("case", IMAGE_CASES, ids=lambda case: case.kind)
def test_image_ends_as_catalogued(run, case):
    assert image_problems(case, run.harness.image_row(run.refs[case.kind])) == []


@pytest.mark.parametrize("case", MESSAGE_CASES, ids=lambda case: case.kind)
def test_invalid_message_is_set_aside_with_its_reason(run, case):
    assert rejection_problems(case, run.harness.runtime, "hostile", run.outbound) == []
    body = case.build(base_job("hostile"), run.outbound.url).decode("utf-8", errors="replace")
    assert body in [decoded(content) for content in poisoned(run.harness.queues, case.step)]


def test_set_aside_messages_were_handled_once_and_left_their_queues(run):
    runtime = run.harness.runtime
    _, rows = runtime.database.query("SELECT COUNT(*) FROM rejected_messages")
    assert rows[0][0] == len(MESSAGE_CASES)  # once each: set aside, not retried
    assert all(runtime.storage.queue_length(queue_name(step)) == 0 for step in PIPELINE)


def test_nothing_is_fetched_from_the_urls_inputs_carry(run):
    assert run.outbound.hits == []
    with urllib.request.urlopen(f"{run.outbound.url}/probe", timeout=5):
        pass  # the listener does record what reaches it
    assert run.outbound.hits == ["GET /probe"]
    run.outbound.hits.clear()


def _working_copy(run: CatalogueRun, kind: str) -> bytes:
    _, rows = run.harness.runtime.database.query(
        "SELECT output_json FROM step_results WHERE image_id = ? AND step = 'normalize'",
        [str(image_id_for(run.refs[kind]))],
    )
    return run.harness.runtime.storage.read(BlobRef.model_validate(json.loads(rows[0][0])["working_image"]))


@pytest.mark.parametrize(
    "kind",
    [
        "JPEG with EXIF GPS",
        "EXIF-rotated phone photo",
        "JPEG with a ZIP appended (polyglot)",
        "6000x4000 photo",
    ],
)
def test_working_copy_is_a_bare_jpeg_within_the_api_limits(run, kind):
    data = _working_copy(run, kind)
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG" and image.mode == "RGB"
        assert not image.getexif() and "exif" not in image.info and "icc_profile" not in image.info
        assert max(image.size) <= WORKING_MAX_SIDE
    assert len(data) <= WORKING_MAX_BYTES
    assert b"PK\x03\x04" not in data and b"PhoneMaker" not in data


def test_face_crops_of_a_photo_with_gps_carry_no_metadata(run):
    _, rows = run.harness.runtime.database.query(
        "SELECT crop_blob FROM faces WHERE image_id = ?", [str(image_id_for(run.refs["JPEG with EXIF GPS"]))]
    )
    assert len(rows) == 1
    crop = run.harness.runtime.storage.read(BlobRef(container=FACES_CONTAINER, name=rows[0][0]))
    with Image.open(io.BytesIO(crop)) as image:
        assert not image.getexif() and "exif" not in image.info
    assert b"PhoneMaker" not in crop


def test_message_over_the_queue_limit_is_refused_by_the_queue_itself(run):
    queue = queue_name("normalize")
    with pytest.raises(HttpResponseError, match="too large"):
        run.harness.runtime.storage.send(queue, "x" * QUEUE_LIMIT_TEXT)
    assert run.harness.runtime.storage.queue_length(queue) == 0
    run.harness.runtime.storage.send(queue, "x" * (QUEUE_LIMIT_TEXT - 1))  # the limit is exactly there
    assert run.harness.runtime.storage.queue_length(queue) == 1
    run.harness.queues.get_queue_client(queue).clear_messages()


TAMPERED_CLAIM_CHECKS = {
    "claim check breaking its step's model": (b'{"width": "wide"}', "breaks that step's output contract"),
    "claim check that is not JSON": (b"<html>not json</html>", "is not JSON"),
}


@pytest.mark.parametrize("kind", TAMPERED_CLAIM_CHECKS)
def test_tampered_claim_check_fails_its_job_for_good(runtime, azurite, samples, kind):
    content, reason = TAMPERED_CLAIM_CHECKS[kind]
    harness = Harness(runtime, azurite.connection_string)
    ref = harness.upload(samples / "coffee.png", "claims/coffee.png")
    harness.ingest(ref)
    harness.deliver("normalize")
    (raw,) = harness.receive_raw(queue_name("faces"))
    harness.queues.get_queue_client(queue_name("faces")).delete_message(raw.id, raw.pop_receipt)
    job = decode_message(base64.b64decode(raw.content))
    claim = claim_ref(job, "normalize")  # the message is valid: only the blob it points at was altered
    runtime.storage.write(claim, content, "application/json")
    checked = job.results["normalize"].model_copy(update={"output": None, "output_ref": claim})
    harness.send_raw(
        queue_name("faces"), job.model_copy(update={"results": {"normalize": checked}}).encode().encode()
    )
    harness.run_all()  # not retried: it would raise here
    row = harness.image_row(ref)  # faces reads the working copy; persist is the first step to load the result
    assert (row["status"], row["failed_step"]) == ("failed", "persist") and reason in row["error"]


def test_the_catalogue_has_thirty_distinct_kinds():
    kinds = [case.kind for case in IMAGE_CASES] + [case.kind for case in MESSAGE_CASES]
    kinds += ["not base64 (host level)", "message over the queue limit", *TAMPERED_CLAIM_CHECKS]
    assert len(kinds) == len(set(kinds)) >= 30


# -- all at once, through the local Functions host ----------------------------------------------------------


@pytest.mark.timeout(240)
def test_one_batch_of_every_kind_passes_through_the_local_host(
    runtime, host_env, samples, outbound, tmp_path
):
    host_env["PIPELINE_STEPS"] = ",".join(PIPELINE)
    # host.json as deployed, but failed attempts are retried after 1 s instead of 10 s, so the host moves the
    # undecodable message to its poison queue within the test.
    host_json = json.loads((ROOT / "host.json").read_text())
    host_json["extensions"]["queues"]["visibilityTimeout"] = "00:00:01"
    (tmp_path / "host.json").write_text(json.dumps(host_json))
    log = tmp_path / "host.log"
    harness = Harness(runtime, host_env["AzureWebJobsStorage"])
    host = start_host(host_env, log, "--host-json", str(tmp_path / "host.json"))
    try:
        refs = upload_catalogue(harness, samples, outbound, "all")
        send_messages(harness, outbound, "all")
        harness.queues.get_queue_client(queue_name("normalize")).send_message(NOT_BASE64)
        uploaded = [refs[case.kind] for case in IMAGE_CASES if not case.deleted_before_run]
        database = Database(host_env["SQL_CONNECTION_STRING"])
        finished = wait_for(database, uploaded, timeout=180, alive=lambda: host.poll() is None)
        assert finished, log.read_text()[-4000:]
        assert wait_until(lambda: NOT_BASE64 in poisoned(harness.queues, "normalize"), timeout=30)
        problems = {
            case.kind: image_problems(case, harness.image_row(refs[case.kind]))
            for case in IMAGE_CASES
            if not case.deleted_before_run
        } | {case.kind: rejection_problems(case, runtime, "all", outbound) for case in MESSAGE_CASES}
        assert {kind: found for kind, found in problems.items() if found} == {}
        _, rows = database.query("SELECT COUNT(*) FROM rejected_messages")
        assert rows[0][0] == len(MESSAGE_CASES)  # the undecodable one never reached the function
        assert outbound.hits == []
        assert host.poll() is None, "the host died"
    finally:
        host.terminate()
        host.wait(timeout=30)


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True
